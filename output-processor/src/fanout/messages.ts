import type { LogEntry } from "../store/types.js";

/** Backbone channel names; `prefix` isolates deployments (and tests) sharing one Redis. */
export function jobChannel(prefix: string, jobId: string): string {
  return `${prefix}job:${jobId}`;
}
export function projectChannel(prefix: string, projectId: string): string {
  return `${prefix}project:${projectId}`;
}

/**
 * Published on a job channel after the entries are stored: contiguous seqs of one task. `from` and
 * `to` (the first and last seq covered) come first so a receiver can route the message without
 * parsing its entries; messages from older instances may lack them.
 */
export interface JobMessage {
  task: string;
  from?: number;
  to?: number;
  entries: LogEntry[];
}

/** The serialized form, header first (see `JobMessage`); `json` are the serialized entries. */
export function encodeJobMessage(task: string, from: number, to: number, json: string[]): string {
  return `{"task":${JSON.stringify(task)},"from":${from},"to":${to},"entries":[${json.join(",")}]}`;
}

const HEADER = /^\{"task":("(?:[^"\\]|\\.)*"),"from":(\d+),"to":(\d+),"entries":\[/;

/** A received job message: the header read from the text, the entries parsed only when asked. */
export class LiveJobMessage {
  private parsed: LogEntry[] | null = null;

  private constructor(
    /** The message as published (UTF-8 bytes or text). */
    readonly raw: Buffer | string,
    readonly task: string,
    /** First and last seq covered. */
    readonly from: number,
    readonly to: number,
    entries: LogEntry[] | null,
  ) {
    this.parsed = entries;
  }

  get entries(): LogEntry[] {
    if (this.parsed === null) this.parsed = (JSON.parse(this.raw.toString()) as JobMessage).entries;
    return this.parsed;
  }

  /** Reads a job channel message; throws on text that is not one. */
  static read(raw: Buffer | string): LiveJobMessage | null {
    const head =
      typeof raw === "string"
        ? raw.slice(0, 512)
        : raw.toString("utf8", 0, Math.min(512, raw.length));
    const m = HEADER.exec(head);
    if (m) {
      return new LiveJobMessage(
        raw,
        JSON.parse(m[1] as string) as string,
        Number(m[2]),
        Number(m[3]),
        null,
      );
    }
    const msg = JSON.parse(raw.toString()) as JobMessage;
    const first = msg.entries[0];
    const last = msg.entries[msg.entries.length - 1];
    if (!first || !last) return null;
    const to = last.kind === "dropped" ? last.toSeq : last.seq;
    return new LiveJobMessage(raw, msg.task, first.seq, to, msg.entries);
  }
}

/** Published on a project channel: a step or task of one of its jobs changed state. */
export interface StatusMessage {
  jobId: string;
  taskId: string;
  kind: "step_started" | "step_finished" | "task_finished";
  seq: number;
  ts: number;
  step?: number;
  name?: string;
  status?: string;
  exitCode?: number | null;
  result?: string;
}

/**
 * Published on a project channel by the control plane: a workflow of the project changed (a job
 * queued, started, finished, approved; the workflow canceled or rerun). Browsers re-read what
 * they show; the event carries only ids and the workflow's status.
 */
export interface WorkflowChangedMessage {
  kind: "workflow_changed";
  workflowId: string;
  pipelineId: string;
  status: string;
}

/** What a `private-project-<id>` channel carries. */
export type ProjectEvent = StatusMessage | WorkflowChangedMessage;
