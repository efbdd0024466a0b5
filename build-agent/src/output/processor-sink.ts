import type { OutputClient } from "@drover/output-processor/client";
import type { StepStatus, TaskResult } from "@drover/task-api";
import { withTimeout } from "../util/time.js";
import type { OutputSink, OutputStream } from "./sink.js";

const CONNECT_GRACE_MS = 2_000;
/** How long `close` waits for the last acknowledgements (an output-processor coming back). */
export const CLOSE_TIMEOUT_MS = 60_000;
/** Characters of unacknowledged output beyond which the command's output is not read. */
export const MAX_BACKLOG_CHARS = 16 * 1024 * 1024;
/** Longest one wait for the backlog to drain: a vanished output-processor slows a job, never hangs it. */
const BACKLOG_WAIT_MS = 10_000;

/**
 * Adapts the output-processor's ingest client (which stamps and numbers frames) to `OutputSink`.
 * When the output-processor cannot be reached (2 s grace at `flush`), `flush` and `close` return
 * instead of waiting for acknowledgements that cannot come: the task's result matters more.
 */
export class ProcessorSink implements OutputSink {
  private closed = false;
  private connected = false;
  private readonly connecting: Promise<unknown>;

  constructor(
    private readonly client: OutputClient,
    connect: Promise<void>,
  ) {
    this.connecting = connect.catch(() => undefined);
    connect.then(
      () => (this.connected = true),
      () => undefined,
    );
  }

  /** Whether the output-processor accepted the connection (so far). */
  get reachable(): boolean {
    return this.connected;
  }

  stepStarted(step: number, name: string): void {
    this.client.stepStarted(step, name);
  }
  write(step: number, stream: OutputStream, data: string): void {
    this.client.write(step, stream === "stdout" ? "out" : "err", data);
  }
  stepFinished(step: number, exitCode: number | null, status: StepStatus): void {
    this.client.stepFinished(step, exitCode, status);
  }
  taskFinished(result: TaskResult): void {
    this.client.taskFinished(result);
  }
  whenWritable(): Promise<void> | undefined {
    if (!this.connected || this.client.backlog < MAX_BACKLOG_CHARS) return undefined;
    return withTimeout(this.client.whenBacklogBelow(MAX_BACKLOG_CHARS / 2), BACKLOG_WAIT_MS).then(
      () => undefined,
      () => undefined,
    );
  }
  async flush(): Promise<void> {
    // A connection still being set up gets a short grace before the output is given up.
    if (!this.connected) await withTimeout(this.connecting, CONNECT_GRACE_MS);
    if (this.connected) await this.client.flush();
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const done = this.client.close({ timeoutMs: CLOSE_TIMEOUT_MS });
    if (this.connected) await done;
    else void done.catch(() => undefined);
  }
}
