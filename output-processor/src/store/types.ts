import type { Frame } from "../protocol/ingest.js";

/** Who a task's log belongs to; recorded when its first frame is stored. */
export interface TaskMeta {
  taskId: string;
  jobId: string;
  projectId: string;
}

/**
 * A stored frame. A step or task end may carry `tail`: output the masker held back (a possible
 * start of a secret) until the stream ended, shown just before the end.
 */
export type StoredFrame =
  | Exclude<Frame, { kind: "step_finished" | "task_finished" }>
  | (Extract<Frame, { kind: "step_finished" | "task_finished" }> & { tail?: string });

/** Stands for frames `seq..toSeq` dropped by the size limit (`textBytes` of output among them). */
export interface DroppedEntry {
  kind: "dropped";
  seq: number;
  toSeq: number;
  textBytes: number;
  ts: number;
}

export type LogEntry = StoredFrame | DroppedEntry;

/**
 * Never stored: stands for frames `seq..toSeq` a tail read leaves out (`textBytes` of output among
 * them, dropped ones included). Sent first by a `tail` read that starts after the first frame.
 */
export interface SkippedEntry {
  kind: "skipped";
  seq: number;
  toSeq: number;
  textBytes: number;
}

/** Where a tail read starts: a frame's seq and the offset of its first output byte. */
export interface TailStart {
  /** The first frame of the tail (`lastSeq + 1` when the tail is empty). */
  seq: number;
  /** Output bytes (of all ever received) before `seq`: what the tail leaves out. */
  textStart: number;
}

export interface TaskLogStat {
  lastSeq: number;
  /** Output bytes ever received (dropped ones included). */
  textBytes: number;
  droppedTextBytes: number;
  finished: boolean;
}

/**
 * Appends one task's log. One writer per task at a time (the ingest connection's); `append` calls
 * are serialized by the caller. Every entry of one call has contiguous seqs starting at
 * `lastSeq + 1`. Once `append` resolves the entries are readable by every reader of the store (the
 * caller acknowledges them to the agent only then). `close` is idempotent.
 */
export interface TaskLogWriter {
  readonly lastSeq: number;
  /** `json`, when given, is `entries.map(JSON.stringify)` (computed once by the caller). */
  append(entries: StoredFrame[], json?: string[]): Promise<void>;
  close(): Promise<void>;
}

/**
 * The durable log store: chunks plus an index per task, so that any range (by seq or by output
 * byte offset) reads without scanning the log. Beyond the per-task size limit it keeps the head and
 * the tail and stands a `dropped` entry in for the middle.
 */
export interface LogStore {
  /** Opens (creating on first use) a task's log for appending; recovers `lastSeq` after a crash. */
  openWriter(meta: TaskMeta): Promise<TaskLogWriter>;
  getMeta(taskId: string): Promise<TaskMeta | null>;
  /** Tasks of a job that have stored at least one frame, in creation order. */
  listJobTasks(jobId: string): Promise<string[]>;
  stat(taskId: string): Promise<TaskLogStat | null>;
  /**
   * Entries with seq >= `fromSeq` (and < `toSeq` when given), in order, up to about `maxBytes` of
   * serialized entries (at least one). `done` is true when nothing past the returned ones is stored
   * yet.
   */
  readEntries(
    taskId: string,
    fromSeq: number,
    opts?: { toSeq?: number; maxBytes?: number },
  ): Promise<{ entries: LogEntry[]; done: boolean }>;
  /**
   * Output text from byte `fromByte` (of all output ever received) to `toByte` (exclusive), in
   * pieces; a dropped region yields one visible line saying how much was dropped.
   */
  readText(taskId: string, opts?: { fromByte?: number; toByte?: number }): AsyncIterable<string>;
  /**
   * Where the last `bytes` of stored output begin, rounded back to the start of the frame holding
   * that byte: the tail holds at least `bytes` of output (when there is that much) and less than
   * one frame more, so it is never empty because the last frame is big. Bytes dropped by the size
   * limit do not count. Reads the index and one chunk. Seq 1 when the whole log fits; null for an
   * unknown task.
   */
  tailStart(taskId: string, bytes: number): Promise<TailStart | null>;
}

export function droppedLine(e: DroppedEntry): string {
  return `\n[drover: ${e.textBytes.toLocaleString("en-US")} bytes of output (frames ${e.seq}-${e.toSeq}) dropped here: the log exceeded its size limit; the head and the tail are kept]\n`;
}

export function skippedLine(e: SkippedEntry): string {
  return `[drover: ${e.textBytes.toLocaleString("en-US")} bytes of earlier output (frames ${e.seq}-${e.toSeq}) not shown: this is the tail of the log; read it without tail= for all of it]\n`;
}

/** Output text an entry contributes to the log. */
export function entryText(e: LogEntry): string {
  if (e.kind === "output") return e.data;
  if (e.kind === "step_finished" || e.kind === "task_finished") return e.tail ?? "";
  return "";
}
