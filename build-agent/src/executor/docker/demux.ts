import type { Readable } from "node:stream";
import { TextDecoder } from "node:util";
import type { OutputStream } from "../../output/sink.js";

/**
 * Reads Docker's multiplexed attach stream (frames of an 8-byte header, type 1 stdout or 2 stderr
 * then a big-endian length, and that many bytes) as text per stream, payloads passed on as they
 * arrive. While `onOutput` returns a pending promise the source is paused: a command printing
 * faster than its output can be shipped then blocks on its own pipe, and the agent's memory stays
 * bounded. A header with another type means the stream is not multiplexed (a TTY): everything
 * from there on is stdout. Resolves when the source ends.
 */
export function demuxOutput(
  source: Readable,
  onOutput: (stream: OutputStream, text: string) => void | Promise<void>,
): Promise<void> {
  const decoders: Record<OutputStream, TextDecoder> = {
    stdout: new TextDecoder(),
    stderr: new TextDecoder(),
  };
  let header: Buffer = Buffer.alloc(0);
  let stream: OutputStream = "stdout";
  let remaining = 0;
  let raw = false;
  let blocked = 0;

  const emit = (name: OutputStream, bytes: Buffer): void => {
    const text = decoders[name].decode(bytes, { stream: true });
    if (!text) return;
    const wait = onOutput(name, text);
    if (!wait) return;
    blocked++;
    source.pause();
    const resume = (): void => {
      if (--blocked === 0) source.resume();
    };
    wait.then(resume, resume);
  };

  const onData = (chunk: Buffer): void => {
    if (raw) return emit("stdout", chunk);
    let off = 0;
    while (off < chunk.length) {
      if (remaining === 0) {
        const take = chunk.subarray(off, off + 8 - header.length);
        header = header.length > 0 ? Buffer.concat([header, take]) : take;
        off += take.length;
        if (header.length < 8) return;
        const type = header[0] as number;
        if (type > 2) {
          raw = true;
          emit("stdout", Buffer.concat([header, chunk.subarray(off)]));
          return;
        }
        stream = type === 2 ? "stderr" : "stdout";
        remaining = header.readUInt32BE(4);
        header = Buffer.alloc(0);
        continue;
      }
      const n = Math.min(remaining, chunk.length - off);
      emit(stream, chunk.subarray(off, off + n));
      off += n;
      remaining -= n;
    }
  };

  return new Promise<void>((resolve, reject) => {
    let done = false;
    const finish = (): void => {
      if (done) return;
      done = true;
      for (const name of ["stdout", "stderr"] as const) {
        const rest = decoders[name].decode();
        if (rest) void onOutput(name, rest);
      }
      resolve();
    };
    source.on("data", onData);
    source.once("end", finish);
    source.once("close", finish);
    source.once("error", (err) => {
      done = true;
      reject(err);
    });
  });
}
