import type { LogEntry } from "../store/types.js";

/** Backbone channel names; `prefix` isolates deployments (and tests) sharing one Redis. */
export function jobChannel(prefix: string, jobId: string): string {
  return `${prefix}job:${jobId}`;
}
export function projectChannel(prefix: string, projectId: string): string {
  return `${prefix}project:${projectId}`;
}

/** Published on a job channel after the entries are stored: contiguous seqs of one task. */
export interface JobMessage {
  task: string;
  entries: LogEntry[];
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
