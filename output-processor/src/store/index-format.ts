import { createHash } from "node:crypto";
import {
  droppedLine,
  entryText,
  type DroppedEntry,
  type LogEntry,
  type StoredFrame,
  type TailStart,
} from "./types.js";

/** A parsed chunk file: its entries and the bytes of its complete lines (a torn last line is not). */
export interface ParsedChunk {
  entries: StoredFrame[];
  validBytes: number;
}

/** Parses a chunk file's JSON lines, leaving out a torn last line. */
export function parseChunkLines(buf: Buffer): ParsedChunk {
  const end = buf.lastIndexOf(0x0a) + 1;
  const entries: StoredFrame[] = [];
  let start = 0;
  while (start < end) {
    const nl = buf.indexOf(0x0a, start);
    entries.push(JSON.parse(buf.toString("utf8", start, nl)) as StoredFrame);
    start = nl + 1;
  }
  return { entries, validBytes: end };
}

/** A task or job id as a file or key name: readable ids as they are, others hashed. */
export function safeName(id: string): string {
  return /^[A-Za-z0-9_-][A-Za-z0-9._-]{0,120}$/.test(id)
    ? id
    : `h-${createHash("sha256").update(id).digest("hex")}`;
}

/** One chunk of a task's log as `index.json` lists it. */
export interface ChunkInfo {
  n: number;
  firstSeq: number;
  /** Up to date for sealed chunks; the active (last) chunk is scanned instead. */
  lastSeq: number;
  /** Offset of the chunk's first output byte among all output ever received. */
  textStart: number;
  textBytes: number;
  fileBytes: number;
}

/** A task's `index.json`: its chunks, the head kept past the size limit and what was dropped. */
export interface IndexFile {
  version: 1;
  chunks: ChunkInfo[];
  /** Chunks `[0, headChunks)` are the head, kept whatever the size; null until the head is full. */
  headChunks: number | null;
  dropped: {
    fromSeq: number;
    toSeq: number;
    textStart: number;
    textBytes: number;
    ts: number;
  } | null;
  finished: boolean;
  /** The writer that owns the task now; an older writer that finds another here stops. */
  writer?: string;
}

/**
 * Where the last `bytes` of output begin: walks back over the kept chunks of `index` (the dropped
 * middle is not among them, so it does not count), then reads the one chunk holding that byte
 * with `entriesOf` and starts at the frame holding it, so the tail is never cut short.
 */
export async function findTail(
  index: IndexFile,
  bytes: number,
  entriesOf: (chunk: ChunkInfo, i: number) => Promise<StoredFrame[]>,
): Promise<TailStart> {
  const chunks = index.chunks;
  const lastIdx = chunks.length - 1;
  if (lastIdx < 0) {
    // Nothing kept past a drop (a writer that never appended after it): the tail is empty.
    const d = index.dropped;
    return d
      ? { seq: d.toSeq + 1, textStart: d.textStart + d.textBytes }
      : { seq: 1, textStart: 0 };
  }
  let need = Math.max(0, bytes);
  let i = lastIdx;
  while ((chunks[i] as ChunkInfo).textBytes < need) {
    need -= (chunks[i] as ChunkInfo).textBytes;
    if (i === 0) return { seq: 1, textStart: 0 };
    i--;
  }
  const c = chunks[i] as ChunkInfo;
  const from = c.textStart + c.textBytes - need;
  let pos = c.textStart;
  for (const e of await entriesOf(c, i)) {
    const end = pos + Buffer.byteLength(entryText(e));
    if (end > from || pos >= from) {
      return e.seq === 1 ? { seq: 1, textStart: 0 } : { seq: e.seq, textStart: pos };
    }
    pos = end;
  }
  // The point is this chunk's end: the tail starts with the next chunk (or is empty).
  const next = chunks[i + 1];
  return next
    ? { seq: next.firstSeq, textStart: next.textStart }
    : { seq: c.lastSeq + 1, textStart: c.textStart + c.textBytes };
}

/** The `dropped` entry that stands for what `index` dropped. */
export function droppedEntry(d: NonNullable<IndexFile["dropped"]>): DroppedEntry {
  return { kind: "dropped", seq: d.fromSeq, toSeq: d.toSeq, textBytes: d.textBytes, ts: d.ts };
}

/**
 * The output text of bytes `[from, to)` of a log, in pieces of about 64 KiB, with the visible
 * line for a dropped middle where it falls: binary-searches `index` for the first chunk, then reads
 * chunks in order with `entriesOf` (called before any of that chunk's text is yielded).
 */
export async function* readTextRange(
  index: IndexFile,
  from: number,
  to: number,
  entriesOf: (chunk: ChunkInfo, i: number) => Promise<StoredFrame[]>,
): AsyncGenerator<string> {
  const chunks = index.chunks;
  let lo = 0;
  let hi = chunks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    const c = chunks[mid] as ChunkInfo;
    if (c.textStart + c.textBytes <= from) lo = mid + 1;
    else hi = mid;
  }
  const d = index.dropped;
  let droppedShown = false;
  for (let i = lo; i < chunks.length; i++) {
    const c = chunks[i] as ChunkInfo;
    if (c.textStart >= to) return;
    if (
      d &&
      !droppedShown &&
      c.textStart >= d.textStart + d.textBytes &&
      d.textStart + d.textBytes > from
    ) {
      droppedShown = true;
      if (d.textStart < to) yield droppedLine(droppedEntry(d));
    }
    const entries = await entriesOf(c, i);
    let pos = c.textStart;
    let piece = "";
    for (const e of entries) {
      const text = entryText(e);
      if (!text) continue;
      const len = Buffer.byteLength(text);
      const start = pos;
      pos += len;
      if (pos <= from) continue;
      if (start >= to) break;
      if (start >= from && pos <= to) piece += text;
      else
        piece += Buffer.from(text).toString(
          "utf8",
          Math.max(0, from - start),
          Math.min(len, to - start),
        );
      if (piece.length >= 64 * 1024) {
        yield piece;
        piece = "";
      }
    }
    if (piece) yield piece;
  }
}

/**
 * Entries with seq in `[fromSeq, toSeq)`, up to about `maxBytes` (one at least), with a `dropped`
 * entry where the dropped middle falls: binary-searches `index`, then reads chunks in order with
 * `entriesOf`. `done` is false when the page stopped short of `toSeq` for size.
 */
export async function readEntryRange(
  index: IndexFile,
  fromSeq: number,
  opts: { toSeq?: number; maxBytes?: number },
  entriesOf: (chunk: ChunkInfo, i: number) => Promise<StoredFrame[]>,
): Promise<{ entries: LogEntry[]; done: boolean }> {
  const maxBytes = opts.maxBytes ?? 256 * 1024;
  const toSeq = opts.toSeq ?? Number.POSITIVE_INFINITY;
  const chunks = index.chunks;
  const out: LogEntry[] = [];
  let bytes = 0;
  let seq = Math.max(1, fromSeq);
  let lo = 0;
  let hi = chunks.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((chunks[mid] as ChunkInfo).lastSeq < seq) lo = mid + 1;
    else hi = mid;
  }
  for (let i = lo; i < chunks.length && seq < toSeq; i++) {
    const c = chunks[i] as ChunkInfo;
    const d = index.dropped;
    if (d && seq <= d.toSeq && c.firstSeq > d.toSeq) {
      out.push(droppedEntry(d));
      bytes += 128;
      seq = d.toSeq + 1;
    }
    if (c.lastSeq < seq) continue;
    for (const e of await entriesOf(c, i)) {
      if (e.seq < seq) continue;
      if (e.seq >= toSeq || (bytes >= maxBytes && out.length > 0)) {
        return { entries: out, done: false };
      }
      out.push(e);
      bytes += (e.kind === "output" ? e.data.length : 0) + 80;
      seq = e.seq + 1;
    }
  }
  return { entries: out, done: true };
}
