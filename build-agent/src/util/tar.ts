import { posix } from "node:path";
import { pipeline } from "node:stream/promises";
import type { Readable } from "node:stream";
import * as tar from "tar-stream";

export interface TarSource {
  tar: Readable;
  /** Absolute directory the tar's entry names are relative to (docker: the path's parent). */
  base: string;
}

/** `base/name` made relative to `root`; undefined when outside `root` or equal to it. */
function relativeTo(root: string, base: string, name: string): string | undefined {
  const abs = posix.normalize(`${base}/${name}`);
  const rel = posix.relative(root, abs);
  if (!rel || rel.startsWith("..")) return undefined;
  return rel;
}

/** One tar stream of every source's entries, renamed relative to `root`, in order. */
export function combineTars(sources: TarSource[], root: string): Readable {
  const pack = tar.pack();
  void (async () => {
    try {
      for (const src of sources) {
        const extract = tar.extract();
        const done = pipeline(src.tar, extract);
        done.catch(() => undefined); // awaited below; a failure here is reported through the pack
        for await (const entry of extract) {
          const name = relativeTo(root, src.base, entry.header.name);
          if (name === undefined) {
            entry.resume();
            continue;
          }
          const header = { ...entry.header, name };
          if (header.type === "file" || header.type === "contiguous-file") {
            await pipeline(entry, pack.entry(header));
          } else {
            pack.entry(header);
            entry.resume();
          }
        }
        await done;
      }
      pack.finalize();
    } catch (err) {
      pack.destroy(err as Error);
    }
  })();
  return pack as unknown as Readable;
}

/** Calls `fn` for each entry; file entries must be consumed (or are drained when `fn` returns). */
export async function forEachEntry(
  input: Readable,
  fn: (header: tar.Header, body: Readable) => Promise<void>,
): Promise<void> {
  const extract = tar.extract();
  const done = pipeline(input, extract);
  try {
    for await (const entry of extract) {
      await fn(entry.header, entry as unknown as Readable);
      entry.resume();
    }
  } catch (err) {
    done.catch(() => undefined); // the pipeline fails with "premature close" once we stop reading
    input.destroy();
    throw err;
  }
  await done;
}

/** Reads a file entry fully (up to `max` bytes; more is an error). */
export async function readEntry(body: Readable, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of body) {
    size += (c as Buffer).length;
    if (size > max) throw new Error(`file is larger than ${max} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}
