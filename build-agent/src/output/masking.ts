import type { Masker } from "@drover/output-processor/masking";
import type { OutputSink, OutputStream } from "./sink.js";

/** Masks output before it reaches the inner sink; one streaming masker per (step, stream). */
export class MaskingSink implements OutputSink {
  private readonly streams = new Map<string, { push(c: string): string; end(): string }>();
  constructor(
    private readonly inner: OutputSink,
    private readonly masker: Masker,
  ) {}

  stepStarted(step: number, name: string): void {
    this.inner.stepStarted(step, this.masker.maskAll(name));
  }
  write(step: number, stream: OutputStream, data: string, at?: Date): void {
    const k = `${step}:${stream}`;
    let s = this.streams.get(k);
    if (!s) {
      s = this.masker.stream();
      this.streams.set(k, s);
    }
    const out = s.push(data);
    if (out) this.inner.write(step, stream, out, at);
  }
  stepFinished(
    step: number,
    exitCode: number | null,
    status: Parameters<OutputSink["stepFinished"]>[2],
  ): void {
    for (const stream of ["stdout", "stderr"] as const) {
      const k = `${step}:${stream}`;
      const s = this.streams.get(k);
      if (s) {
        const rest = s.end();
        if (rest) this.inner.write(step, stream, rest);
        this.streams.delete(k);
      }
    }
    this.inner.stepFinished(step, exitCode, status);
  }
  taskFinished(result: Parameters<OutputSink["taskFinished"]>[0]): void {
    this.inner.taskFinished(result);
  }
  flush(): Promise<void> {
    return this.inner.flush();
  }
  whenWritable(): Promise<void> | undefined {
    return this.inner.whenWritable?.();
  }
  close(): Promise<void> {
    return this.inner.close();
  }
}
