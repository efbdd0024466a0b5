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
  if (!rel || rel === ".." || rel.startsWith("../")) return undefined;
  return rel;
}

/**
 * One tar stream of every source's entries, renamed relative to `root`, in order (hard links
 * retargeted the same way). Entries outside `root`, and hard links to files outside it, are left
 * out.
 */
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
          const link =
            entry.header.type === "link"
              ? relativeTo(root, src.base, entry.header.linkname ?? "")
              : entry.header.linkname;
          if (name === undefined || (entry.header.type === "link" && link === undefined)) {
            entry.resume();
            continue;
          }
          const header = { ...entry.header, name, linkname: link };
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

/**
 * `input` passed through unchanged up to its first entry that would land outside the directory it
 * is extracted into: an absolute name, `..` above the top, a hard link to such a name, or a path
 * below a symlink of the same archive. There the stream fails and `violation()` names the entry.
 */
export function confineTar(input: Readable): { tar: Readable; violation(): string | undefined } {
  const pack = tar.pack();
  let violation: string | undefined;
  const inside = (name: string): string | undefined => {
    if (name.startsWith("/")) return undefined;
    const n = posix.normalize(`./${name}`).replace(/\/+$/, "");
    return n === ".." || n.startsWith("../") ? undefined : n;
  };
  void (async () => {
    const symlinks = new Set<string>();
    const extract = tar.extract();
    const done = pipeline(input, extract);
    done.catch(() => undefined); // awaited below
    try {
      for await (const entry of extract) {
        const h = entry.header;
        const name = inside(h.name);
        const viaSymlink =
          name !== undefined &&
          name.split("/").some((_, i, segs) => i > 0 && symlinks.has(segs.slice(0, i).join("/")));
        if (
          name === undefined ||
          viaSymlink ||
          (h.type === "link" && inside(h.linkname ?? "") === undefined)
        ) {
          violation = h.name;
          entry.resume();
          throw new Error(`the archive has an entry '${h.name}' outside its target directory`);
        }
        if (h.type === "symlink") symlinks.add(name);
        if (h.type === "file" || h.type === "contiguous-file") await pipeline(entry, pack.entry(h));
        else {
          pack.entry(h);
          entry.resume();
        }
      }
      await done;
      pack.finalize();
    } catch (err) {
      input.destroy();
      pack.destroy(err as Error);
    }
  })();
  return { tar: pack as unknown as Readable, violation: () => violation };
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
