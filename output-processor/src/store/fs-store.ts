import { randomUUID } from "node:crypto";
import { mkdir, open, readFile, rename, rm, appendFile, stat, writeFile } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import {
  findTail,
  parseChunkLines,
  readEntryRange,
  readTextRange,
  type ChunkInfo,
  type IndexFile,
  type ParsedChunk,
  safeName,
} from "./index-format.js";
import { join } from "node:path";
import { OutputError } from "../errors.js";
import {
  entryText,
  type LogEntry,
  type LogStore,
  type StoredFrame,
  type TailStart,
  type TaskLogStat,
  type TaskLogWriter,
  type TaskMeta,
} from "./types.js";

export interface FsLogStoreOptions {
  /** Directory holding `tasks/` and `jobs/`; may be shared by several instances. */
  dir: string;
  /** Per-task limit on stored bytes (default 100 MiB); beyond it the head and tail are kept. */
  maxTaskBytes?: number;
  /** Target chunk size (default 1 MiB, at most an eighth of the limit). */
  chunkBytes?: number;
  /** How often a writer checks that no other writer took its task over (default 1000 ms). */
  ownerCheckMs?: number;
}

function emptyIndex(): IndexFile {
  return { version: 1, chunks: [], headChunks: null, dropped: null, finished: false };
}

async function parseChunk(path: string): Promise<ParsedChunk> {
  let buf: Buffer;
  try {
    buf = await readFile(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return { entries: [], validBytes: 0 };
    throw err;
  }
  return parseChunkLines(buf);
}

/** A `LogStore` on the local filesystem: `tasks/<id>/{meta.json,index.json,<n>.jsonl}`. */
export class FsLogStore implements LogStore {
  private readonly maxTaskBytes: number;
  private readonly chunkBytes: number;
  private readonly writers = new Map<string, FsTaskWriter>();
  /** Recently parsed sealed chunks (immutable once sealed), most recent last. */
  private readonly cache = new Map<string, ParsedChunk>();

  constructor(private readonly opts: FsLogStoreOptions) {
    this.maxTaskBytes = opts.maxTaskBytes ?? 100 * 1024 * 1024;
    this.chunkBytes = Math.max(
      4096,
      Math.min(opts.chunkBytes ?? 1024 * 1024, Math.floor(this.maxTaskBytes / 8)),
    );
  }

  taskDir(taskId: string): string {
    return join(this.opts.dir, "tasks", safeName(taskId));
  }

  async openWriter(meta: TaskMeta): Promise<TaskLogWriter> {
    const existing = this.writers.get(meta.taskId);
    if (existing) await existing.close();
    const dir = this.taskDir(meta.taskId);
    try {
      await mkdir(dir, { recursive: true });
      const old = await this.getMeta(meta.taskId);
      if (!old) {
        await writeFile(join(dir, "meta.json"), JSON.stringify(meta));
        await mkdir(join(this.opts.dir, "jobs"), { recursive: true });
        await appendFile(
          join(this.opts.dir, "jobs", `${safeName(meta.jobId)}.tasks`),
          `${JSON.stringify(meta.taskId)}\n`,
        );
      }
      const index = await this.readIndex(meta.taskId);
      const writer = await FsTaskWriter.recover(this, dir, index, () => {
        if (this.writers.get(meta.taskId) === writer) this.writers.delete(meta.taskId);
      });
      this.writers.set(meta.taskId, writer);
      return writer;
    } catch (err) {
      throw new OutputError("DROVER_ERR_OUTPUT_STORE", `cannot open log of task ${meta.taskId}`, {
        cause: err,
      });
    }
  }

  async getMeta(taskId: string): Promise<TaskMeta | null> {
    try {
      return JSON.parse(
        await readFile(join(this.taskDir(taskId), "meta.json"), "utf8"),
      ) as TaskMeta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return null;
      throw err;
    }
  }

  async listJobTasks(jobId: string): Promise<string[]> {
    let text: string;
    try {
      text = await readFile(join(this.opts.dir, "jobs", `${safeName(jobId)}.tasks`), "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const seen = new Set<string>();
    for (const line of text.split("\n")) if (line) seen.add(JSON.parse(line) as string);
    return [...seen];
  }

  async readIndex(taskId: string): Promise<IndexFile> {
    const live = this.writers.get(taskId);
    if (live) return live.snapshot();
    try {
      return JSON.parse(
        await readFile(join(this.taskDir(taskId), "index.json"), "utf8"),
      ) as IndexFile;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return emptyIndex();
      throw err;
    }
  }

  get ownerCheckMs(): number {
    return this.opts.ownerCheckMs ?? 1000;
  }

  get limits(): { maxTaskBytes: number; chunkBytes: number } {
    return { maxTaskBytes: this.maxTaskBytes, chunkBytes: this.chunkBytes };
  }

  /** The index with the active chunk's figures brought up to date (by reading that one chunk). */
  private async currentIndex(
    taskId: string,
  ): Promise<{ index: IndexFile; active: ParsedChunk | null }> {
    const index = await this.readIndex(taskId);
    const last = index.chunks[index.chunks.length - 1];
    if (!last) return { index, active: null };
    const active = await parseChunk(join(this.taskDir(taskId), `${last.n}.jsonl`));
    const lastEntry = active.entries[active.entries.length - 1];
    last.lastSeq = lastEntry ? lastEntry.seq : last.firstSeq - 1;
    last.textBytes = active.entries.reduce((n, e) => n + Buffer.byteLength(entryText(e)), 0);
    last.fileBytes = active.validBytes;
    if (lastEntry?.kind === "task_finished") index.finished = true;
    return { index, active };
  }

  async stat(taskId: string): Promise<TaskLogStat | null> {
    if (!(await this.getMeta(taskId))) return null;
    const { index } = await this.currentIndex(taskId);
    const last = index.chunks[index.chunks.length - 1];
    return {
      lastSeq: last ? last.lastSeq : 0,
      textBytes: last ? last.textStart + last.textBytes : 0,
      droppedTextBytes: index.dropped?.textBytes ?? 0,
      finished: index.finished,
    };
  }

  async readEntries(
    taskId: string,
    fromSeq: number,
    opts: { toSeq?: number; maxBytes?: number } = {},
  ): Promise<{ entries: LogEntry[]; done: boolean }> {
    const index = await this.readIndex(taskId);
    const tail = index.chunks[index.chunks.length - 1];
    if (tail) tail.lastSeq = Number.POSITIVE_INFINITY; // the active chunk is read, not trusted
    return readEntryRange(
      index,
      fromSeq,
      opts,
      async (_c, i) => (await this.chunk(taskId, index, i)).entries,
    );
  }

  async *readText(
    taskId: string,
    opts: { fromByte?: number; toByte?: number } = {},
  ): AsyncIterable<string> {
    const index = await this.readIndex(taskId);
    const tail = index.chunks[index.chunks.length - 1];
    if (tail) tail.textBytes = Number.POSITIVE_INFINITY; // the active chunk is read, not trusted
    yield* readTextRange(
      index,
      opts.fromByte ?? 0,
      opts.toByte ?? Number.POSITIVE_INFINITY,
      async (_c, i) => (await this.chunk(taskId, index, i)).entries,
    );
  }

  async tailStart(taskId: string, bytes: number): Promise<TailStart | null> {
    if (!(await this.getMeta(taskId))) return null;
    const { index, active } = await this.currentIndex(taskId);
    const lastIdx = index.chunks.length - 1;
    return findTail(
      index,
      bytes,
      async (_c, i) =>
        (i === lastIdx && active ? active : await this.chunk(taskId, index, i)).entries,
    );
  }

  /** Parses chunk `i` of `index`; sealed ones come from a small cache. */
  private async chunk(taskId: string, index: IndexFile, i: number): Promise<ParsedChunk> {
    const c = index.chunks[i] as ChunkInfo;
    const path = join(this.taskDir(taskId), `${c.n}.jsonl`);
    if (i === index.chunks.length - 1) return parseChunk(path);
    const hit = this.cache.get(path);
    if (hit) {
      this.cache.delete(path);
      this.cache.set(path, hit);
      return hit;
    }
    const parsed = await parseChunk(path);
    this.cache.set(path, parsed);
    if (this.cache.size > 8) this.cache.delete(this.cache.keys().next().value as string);
    return parsed;
  }

  /** Applies the size limit after chunk `sealed` was sealed; returns chunk numbers to delete. */
  enforceLimit(index: IndexFile): number[] {
    const total = (): number => index.chunks.reduce((n, c) => n + c.fileBytes, 0);
    if (index.headChunks === null && total() >= this.maxTaskBytes / 2) {
      index.headChunks = index.chunks.length;
    }
    const removed: number[] = [];
    if (index.headChunks === null) return removed;
    // Keep the active chunk (the last) always.
    while (total() > this.maxTaskBytes && index.chunks.length - 1 > index.headChunks) {
      const [victim] = index.chunks.splice(index.headChunks, 1) as [ChunkInfo];
      const d = index.dropped;
      index.dropped = d
        ? { ...d, toSeq: victim.lastSeq, textBytes: d.textBytes + victim.textBytes }
        : {
            fromSeq: victim.firstSeq,
            toSeq: victim.lastSeq,
            textStart: victim.textStart,
            textBytes: victim.textBytes,
            ts: Date.now(),
          };
      removed.push(victim.n);
    }
    return removed;
  }
}

function fileId(st: { ino: number; mtimeMs: number; size: number }): string {
  return `${st.ino}:${st.mtimeMs}:${st.size}`;
}

class FsTaskWriter implements TaskLogWriter {
  private handle: FileHandle | null = null;
  private closed = false;
  private readonly id = randomUUID();
  /** Identity (inode, mtime, size) of the index this writer wrote last; another means another writer. */
  private indexId = "";
  private checkedAt = 0;

  private constructor(
    private readonly store: FsLogStore,
    private readonly dir: string,
    private readonly index: IndexFile,
    public lastSeq: number,
    private readonly onClose: () => void,
  ) {}

  static async recover(
    store: FsLogStore,
    dir: string,
    index: IndexFile,
    onClose: () => void,
  ): Promise<FsTaskWriter> {
    const last = index.chunks[index.chunks.length - 1];
    let lastSeq = 0;
    if (last) {
      const path = join(dir, `${last.n}.jsonl`);
      const parsed = await parseChunk(path);
      const lastEntry = parsed.entries[parsed.entries.length - 1];
      last.lastSeq = lastEntry ? lastEntry.seq : last.firstSeq - 1;
      last.textBytes = parsed.entries.reduce((n, e) => n + Buffer.byteLength(entryText(e)), 0);
      last.fileBytes = parsed.validBytes;
      if (lastEntry?.kind === "task_finished") index.finished = true;
      lastSeq = last.lastSeq;
      // A crash mid-write leaves a torn line; it was never acknowledged, so cut it.
      const h = await open(path, "a+");
      const size = (await h.stat()).size;
      if (size > parsed.validBytes) await h.truncate(parsed.validBytes);
      await h.close();
    } else if (index.dropped) {
      lastSeq = index.dropped.toSeq;
    }
    const writer = new FsTaskWriter(store, dir, index, lastSeq, onClose);
    index.writer = writer.id;
    await writer.writeIndex(true);
    return writer;
  }

  snapshot(): IndexFile {
    return structuredClone(this.index);
  }

  async append(entries: StoredFrame[], json?: string[]): Promise<void> {
    if (this.closed) throw new OutputError("DROVER_ERR_OUTPUT_STORE", "writer closed");
    if (entries.length === 0) return;
    // At most every second: a takeover means the agent left this connection, so only frames
    // already received here can still arrive.
    if (Date.now() - this.checkedAt > this.store.ownerCheckMs) {
      this.checkedAt = Date.now();
      await this.checkOwner();
    }
    let active = this.index.chunks[this.index.chunks.length - 1];
    if (!active || active.fileBytes >= this.store.limits.chunkBytes) {
      active = await this.startChunk(entries[0] as StoredFrame);
    }
    let text = 0;
    let bytes = 0;
    // A buffer per entry: one string of them all could cross V8's large-string line.
    const bufs = entries.map((e, i) => {
      text += Buffer.byteLength(entryText(e));
      const b = Buffer.from(`${json?.[i] ?? JSON.stringify(e)}\n`);
      bytes += b.length;
      return b;
    });
    if (!this.handle) this.handle = await open(join(this.dir, `${active.n}.jsonl`), "a");
    try {
      // Small batches (the usual case) as one buffer and one write; big ones without the copy.
      if (bytes <= 256 * 1024) await writeAll(this.handle, [Buffer.concat(bufs, bytes)]);
      else await writeAll(this.handle, bufs);
    } catch (err) {
      throw new OutputError("DROVER_ERR_OUTPUT_STORE", "cannot append to log", { cause: err });
    }
    active.fileBytes += bytes;
    active.textBytes += text;
    active.lastSeq = (entries[entries.length - 1] as StoredFrame).seq;
    this.lastSeq = active.lastSeq;
    if (entries.some((e) => e.kind === "task_finished")) {
      this.index.finished = true;
      await this.writeIndex();
    }
  }

  private async startChunk(first: StoredFrame): Promise<ChunkInfo> {
    const prev = this.index.chunks[this.index.chunks.length - 1];
    if (this.handle) {
      await this.handle.close();
      this.handle = null;
    }
    const removed = prev ? this.store.enforceLimit(this.index) : [];
    const textStart = prev ? prev.textStart + prev.textBytes : 0;
    const chunk: ChunkInfo = {
      n: prev ? prev.n + 1 : 0,
      firstSeq: first.seq,
      lastSeq: first.seq - 1,
      textStart,
      textBytes: 0,
      fileBytes: 0,
    };
    this.index.chunks.push(chunk);
    await writeFile(join(this.dir, `${chunk.n}.jsonl`), "", { flag: "a" });
    await this.writeIndex();
    for (const n of removed) await rm(join(this.dir, `${n}.jsonl`), { force: true });
    return chunk;
  }

  /** Throws when another writer (on any instance) has taken the task over. */
  private async checkOwner(): Promise<void> {
    const path = join(this.dir, "index.json");
    const id = await stat(path).then(fileId, () => "");
    if (id === this.indexId) return;
    const current = await readFile(path, "utf8").then(
      (t) => JSON.parse(t) as IndexFile,
      () => null,
    );
    if (current?.writer && current.writer !== this.id) {
      throw new OutputError(
        "DROVER_ERR_OUTPUT_STORE",
        "another connection took this task's log over",
      );
    }
  }

  /** Writes the index unless another writer has taken the task over (`claim` takes it). */
  private async writeIndex(claim = false): Promise<void> {
    const path = join(this.dir, "index.json");
    if (!claim) await this.checkOwner();
    const tmp = join(this.dir, `index.json.${this.id}.tmp`);
    await writeFile(tmp, JSON.stringify(this.index));
    await rename(tmp, path);
    this.indexId = fileId(await stat(path));
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.handle) await this.handle.close();
    this.handle = null;
    try {
      await this.writeIndex();
    } catch (err) {
      // Superseded: the newer writer's index stands.
      if (!(err instanceof OutputError)) throw err;
    }
    this.onClose();
  }
}

/** Writes every buffer, in order, with as few system calls as the kernel allows. */
async function writeAll(handle: FileHandle, bufs: Buffer[]): Promise<void> {
  let rest = bufs;
  while (rest.length > 0) {
    const batch = rest.slice(0, 1024); // IOV_MAX
    let { bytesWritten } =
      batch.length === 1 ? await handle.write(batch[0] as Buffer) : await handle.writev(batch);
    let i = 0;
    while (i < batch.length && bytesWritten >= (batch[i] as Buffer).length) {
      bytesWritten -= (batch[i] as Buffer).length;
      i++;
    }
    rest = rest.slice(i);
    if (bytesWritten > 0) rest[0] = (rest[0] as Buffer).subarray(bytesWritten);
  }
}
