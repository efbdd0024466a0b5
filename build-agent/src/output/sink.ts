import type { StepStatus, TaskResult } from "@drover/task-api";

export type OutputStream = "stdout" | "stderr";

/**
 * Where step output goes. One sink per task; calls arrive in order for a step: `stepStarted`, any
 * number of `write`s, `stepFinished`. Steps may interleave (background steps). `taskFinished` comes
 * once, after every step; `flush` waits until everything written so far is delivered; `close`
 * flushes and releases the sink (idempotent). Data handed to a sink is already masked.
 */
export interface OutputSink {
  stepStarted(step: number, name: string): void;
  /** `at`: when the agent read the chunk (defaults to now). */
  write(step: number, stream: OutputStream, data: string, at?: Date): void;
  stepFinished(step: number, exitCode: number | null, status: StepStatus): void;
  taskFinished(result: TaskResult): void;
  flush(): Promise<void>;
  close(): Promise<void>;
  /**
   * Backpressure: undefined while the sink takes more output now, else a promise that settles when
   * it can (the caller stops reading the command's output meanwhile, so memory stays bounded).
   * Sinks without it never push back.
   */
  whenWritable?(): Promise<void> | undefined;
}

export type OutputRecord =
  | { type: "step_started"; step: number; name: string; at: string }
  | { type: "output"; step: number; stream: OutputStream; data: string; at: string }
  | { type: "step_finished"; step: number; exitCode: number | null; status: StepStatus; at: string }
  | { type: "task_finished"; result: TaskResult; at: string };

/** Keeps every record in memory: tests, and the in-process path of `drover up`. */
export class MemorySink implements OutputSink {
  readonly records: OutputRecord[] = [];
  closed = false;

  stepStarted(step: number, name: string): void {
    this.records.push({ type: "step_started", step, name, at: new Date().toISOString() });
  }
  write(step: number, stream: OutputStream, data: string, at = new Date()): void {
    this.records.push({ type: "output", step, stream, data, at: at.toISOString() });
  }
  stepFinished(step: number, exitCode: number | null, status: StepStatus): void {
    this.records.push({
      type: "step_finished",
      step,
      exitCode,
      status,
      at: new Date().toISOString(),
    });
  }
  taskFinished(result: TaskResult): void {
    this.records.push({ type: "task_finished", result, at: new Date().toISOString() });
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {
    this.closed = true;
  }

  /** The concatenated output of one step (both streams, in arrival order). */
  text(step: number, stream?: OutputStream): string {
    return this.records
      .filter((r) => r.type === "output" && r.step === step && (!stream || r.stream === stream))
      .map((r) => (r.type === "output" ? r.data : ""))
      .join("");
  }
}

/** Writes one JSON record per line to a stream (the local scheduler reads the agent's stdout). */
export class NdjsonSink implements OutputSink {
  constructor(private readonly out: NodeJS.WritableStream) {}
  private emit(r: OutputRecord): void {
    this.out.write(`${JSON.stringify(r)}\n`);
  }
  stepStarted(step: number, name: string): void {
    this.emit({ type: "step_started", step, name, at: new Date().toISOString() });
  }
  write(step: number, stream: OutputStream, data: string, at = new Date()): void {
    this.emit({ type: "output", step, stream, data, at: at.toISOString() });
  }
  stepFinished(step: number, exitCode: number | null, status: StepStatus): void {
    this.emit({ type: "step_finished", step, exitCode, status, at: new Date().toISOString() });
  }
  taskFinished(result: TaskResult): void {
    this.emit({ type: "task_finished", result, at: new Date().toISOString() });
  }
  async flush(): Promise<void> {}
  async close(): Promise<void> {}
}
