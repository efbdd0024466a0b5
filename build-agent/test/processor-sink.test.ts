/** ProcessorSink's backpressure decisions, over a stand-in for the ingest client. */
import { describe, expect, it } from "vitest";
import type { OutputClient } from "@drover/output-processor/client";
import { MAX_BACKLOG_CHARS, ProcessorSink } from "../src/output/processor-sink.js";

function fakeClient(backlog: number): {
  client: OutputClient;
  drain(): void;
  asked: number[];
} {
  let release: () => void = () => undefined;
  const asked: number[] = [];
  const stub = {
    backlog,
    whenBacklogBelow(chars: number): Promise<void> {
      asked.push(chars);
      return new Promise<void>((r) => (release = r));
    },
  };
  return { client: stub as unknown as OutputClient, drain: () => release(), asked };
}

describe("ProcessorSink backpressure", () => {
  it("takes output freely under the backlog limit", async () => {
    const { client } = fakeClient(MAX_BACKLOG_CHARS - 1);
    const sink = new ProcessorSink(client, Promise.resolve());
    await new Promise((r) => setImmediate(r));
    expect(sink.whenWritable()).toBeUndefined();
  });

  it("pushes back over the limit until the backlog halves", async () => {
    const fake = fakeClient(MAX_BACKLOG_CHARS);
    const sink = new ProcessorSink(fake.client, Promise.resolve());
    await new Promise((r) => setImmediate(r));
    const wait = sink.whenWritable();
    expect(wait).toBeInstanceOf(Promise);
    expect(fake.asked).toEqual([MAX_BACKLOG_CHARS / 2]);
    let done = false;
    void wait?.then(() => (done = true));
    await new Promise((r) => setTimeout(r, 20));
    expect(done).toBe(false);
    fake.drain();
    await wait;
    expect(done).toBe(true);
  });

  it("never pushes back while the output-processor is unreachable", async () => {
    const { client } = fakeClient(MAX_BACKLOG_CHARS * 4);
    const sink = new ProcessorSink(client, Promise.reject(new Error("refused")));
    await new Promise((r) => setImmediate(r));
    expect(sink.whenWritable()).toBeUndefined();
  });
});
