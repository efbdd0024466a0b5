/** Docker's multiplexed attach stream read as text, with backpressure (no Docker needed). */
import { PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import { demuxOutput } from "../src/executor/docker/demux.js";

function frame(type: number, payload: Buffer | string): Buffer {
  const body = typeof payload === "string" ? Buffer.from(payload) : payload;
  const header = Buffer.alloc(8);
  header[0] = type;
  header.writeUInt32BE(body.length, 4);
  return Buffer.concat([header, body]);
}

describe("demuxOutput", () => {
  it("splits stdout and stderr whatever the chunk boundaries, multi-byte characters included", async () => {
    const wire = Buffer.concat([
      frame(1, "héllo wörld\n"),
      frame(2, "err ✓\n"),
      frame(1, "€".repeat(1000)),
      frame(1, ""),
      frame(2, "tail"),
    ]);
    for (const size of [1, 3, 7, 8, 9, 64, wire.length]) {
      const src = new PassThrough();
      const got = { stdout: "", stderr: "" };
      const done = demuxOutput(src, (name, text) => {
        got[name] += text;
      });
      for (let i = 0; i < wire.length; i += size) src.write(wire.subarray(i, i + size));
      src.end();
      await done;
      expect(got).toEqual({ stdout: `héllo wörld\n${"€".repeat(1000)}`, stderr: "err ✓\ntail" });
    }
  });

  it("treats a stream that is not multiplexed (a TTY) as stdout", async () => {
    const src = new PassThrough();
    let out = "";
    const done = demuxOutput(src, (_name, text) => {
      out += text;
    });
    src.end("plain tty output\nsecond line\n");
    await done;
    expect(out).toBe("plain tty output\nsecond line\n");
  });

  it("stops reading while the consumer pushes back, then reads on", async () => {
    const src = new PassThrough();
    const seen: string[] = [];
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const done = demuxOutput(src, (_name, text) => {
      seen.push(text);
      return seen.length === 1 ? gate : undefined;
    });
    src.write(frame(1, "first"));
    await new Promise((r) => setImmediate(r));
    expect(src.isPaused()).toBe(true);
    src.write(frame(1, "second"));
    await new Promise((r) => setTimeout(r, 20));
    expect(seen).toEqual(["first"]); // nothing read while the consumer is busy
    release();
    await new Promise((r) => setTimeout(r, 20));
    expect(src.isPaused()).toBe(false);
    src.end(frame(2, "third"));
    await done;
    expect(seen).toEqual(["first", "second", "third"]);
  });

  it("rejects when the source fails", async () => {
    const src = new PassThrough();
    const done = demuxOutput(src, () => undefined);
    src.destroy(new Error("connection reset"));
    await expect(done).rejects.toThrow("connection reset");
  });
});
