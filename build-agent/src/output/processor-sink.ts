import type { OutputClient } from "@drover/output-processor/client";
import type { StepStatus, TaskResult } from "@drover/control-plane/task-api";
import type { OutputSink, OutputStream } from "./sink.js";

/** Adapts the output-processor's ingest client (which stamps and numbers frames) to `OutputSink`. */
export class ProcessorSink implements OutputSink {
  private closed = false;
  constructor(private readonly client: OutputClient) {}

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
  flush(): Promise<void> {
    return this.client.flush();
  }
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.client.close();
  }
}
