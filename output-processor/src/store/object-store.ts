import { randomUUID } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { pino, type Logger } from "pino";
import { OutputError } from "../errors.js";
import { S3Client } from "../objstore/client.js";
import type { S3ConfigInput } from "../objstore/config.js";
import { FsLogStore } from "./fs-store.js";
import {
  droppedEntry,
  findTail,
  parseChunkLines,
  readEntryRange,
  readTextRange,
  type ChunkInfo,
  type IndexFile,
  type ParsedChunk,
  safeName,
} from "./index-format.js";
import {
  droppedLine,
  type LogEntry,
  type LogStore,
  type StoredFrame,
  type TailStart,
  type TaskLogStat,
  type TaskLogWriter,
  type TaskMeta,
} from "./types.js";

export interface ObjectLogStoreOptions {
  /** Directory of the local spool (an `FsLogStore`): writers write here; unarchived tasks are read here. */
  dir: string;
  maxTaskBytes?: number;
  chunkBytes?: number;
  /** The bucket: a client, or its config. */
  s3: S3Client | S3ConfigInput;
  /** Keep the spool copy after archiving (default false: it is deleted once uploaded). */
  keepLocal?: boolean;
  /** Parsed archived chunks kept in memory (default 16). */
  cacheChunks?: number;
  /** How often failed archives are retried (default 60 s). */
  retryIntervalMs?: number;
  /**
   * A spooled task no writer here closed is archived by `archivePending` only once its files are
   * this old (default 5 min): a writer of another instance sharing the spool may still own it.
   */
  staleMs?: number;
  logger?: Logger;
}

/** An archived chunk the index names is gone (the task was archived again meanwhile). */
class MissingChunk extends Error {}

const MARKERS = "archive-pending";
/** How long a fetched archived index is reused. */
const INDEX_TTL_MS = 2000;
/** Chunk uploads in flight per archive. */
const UPLOAD_CONCURRENCY = 4;

/** Runs `fn` over `items`, `limit` at a time; rejects with the first failure (after the rest settle). */
async function inParallel<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: { err: unknown } | null = null;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failure ??= { err };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure) throw (failure as { err: unknown }).err;
}

function isEnoent(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === "ENOENT";
}

/**
 * A `LogStore` on object storage (S3 or compatible) with a local spool. Writers write to the spool
 * (an `FsLogStore`) exactly as the filesystem store does; when a writer closes, its task is
 * archived: every chunk not already uploaded, then `meta.json` and a job listing marker, then
 * `index.json` last (a reader of the bucket never sees an index naming a missing chunk); then the
 * spool copy is deleted unless `keepLocal`. A failed archive leaves the spool as it was and is
 * retried by a later `close`, by `archivePending()` and every `retryIntervalMs` (markers under
 * `<dir>/archive-pending/` survive a restart).
 *
 * Reads serve a task from the spool while it is there, else from the bucket (parsed chunks cached,
 * each fetched by range up to the size its index records). A spool copy is not deleted while a
 * read of it is in progress here; a read that finds it gone (deleted by another instance sharing
 * the spool) is finished from the bucket. Reopening an archived task restores it into the spool
 * first, so its writer resumes after its last stored seq. Instances that take over each other's
 * agents share the spool directory, as with `FsLogStore`.
 *
 * Bucket layout, under the client's prefix: `tasks/<task>/{meta.json,index.json,<n>.jsonl}` (the
 * spool's files; `meta.json` adds `createdAt`) and `jobs/<job>/<createdAt>-<encoded task id>`
 * (empty) for `listJobTasks`.
 */
export class ObjectLogStore implements LogStore {
  readonly spool: FsLogStore;
  readonly client: S3Client;
  private readonly dir: string;
  private readonly keepLocal: boolean;
  private readonly cacheSize: number;
  private readonly log: Logger;
  private readonly cache = new Map<string, ParsedChunk>();
  private readonly indexCache = new Map<string, { at: number; index: IndexFile }>();
  /** Writers open here, per task. */
  private readonly live = new Map<string, number>();
  /** Spool reads in progress here, per task. */
  private readonly readers = new Map<string, number>();
  /** Archived tasks whose spool copy waits for its readers before it is deleted. */
  private readonly deleteWhenIdle = new Set<string>();
  /** Archive or delete in progress, per task (one at a time; `openWriter` waits for it). */
  private readonly busy = new Map<string, Promise<void>>();
  /** Tasks whose writer closed here and whose archive failed: retried without waiting. */
  private readonly failedHere = new Set<string>();
  private readonly staleMs: number;
  private readonly timer: NodeJS.Timeout;

  constructor(opts: ObjectLogStoreOptions) {
    this.dir = opts.dir;
    this.spool = new FsLogStore({
      dir: opts.dir,
      maxTaskBytes: opts.maxTaskBytes,
      chunkBytes: opts.chunkBytes,
    });
    this.client = opts.s3 instanceof S3Client ? opts.s3 : new S3Client(opts.s3);
    this.keepLocal = opts.keepLocal ?? false;
    this.cacheSize = opts.cacheChunks ?? 16;
    this.staleMs = opts.staleMs ?? 5 * 60_000;
    this.log = (opts.logger ?? pino({ level: "silent" })).child({ component: "object-log-store" });
    this.timer = setInterval(() => {
      this.archivePending().catch((err: unknown) =>
        this.log.warn({ err }, "retrying pending archives failed"),
      );
    }, opts.retryIntervalMs ?? 60_000);
    this.timer.unref();
  }

  /** Stops the retry timer (archives in progress finish). */
  close(): void {
    clearInterval(this.timer);
  }

  /** Whether the spool holds a copy of the task (archived copies may have been deleted from it). */
  async hasLocal(taskId: string): Promise<boolean> {
    return (await this.spool.getMeta(taskId)) !== null;
  }

  private key(taskId: string, file: string): string {
    return `tasks/${safeName(taskId)}/${file}`;
  }

  private markerPath(taskId: string): string {
    return join(this.dir, MARKERS, safeName(taskId));
  }

  // --- writing and archiving ---

  async openWriter(meta: TaskMeta): Promise<TaskLogWriter> {
    const id = meta.taskId;
    for (let p = this.busy.get(id); p; p = this.busy.get(id)) await p.catch(() => undefined);
    this.live.set(id, (this.live.get(id) ?? 0) + 1);
    this.deleteWhenIdle.delete(id);
    try {
      if (!(await this.spool.getMeta(id))) {
        // An archived copy must be resumed, not restarted: the bucket has to answer.
        await this.restore(id).catch((err: unknown) => {
          throw new OutputError(
            "DROVER_ERR_OUTPUT_OBJSTORE",
            `cannot open the log of task ${id}: looking for an archived copy failed: ${err instanceof Error ? err.message : String(err)}`,
            { cause: err },
          );
        });
      }
      await mkdir(join(this.dir, MARKERS), { recursive: true });
      await writeFile(this.markerPath(id), JSON.stringify(id));
      const inner = await this.spool.openWriter(meta);
      return new ObjectTaskWriter(this, inner, id);
    } catch (err) {
      this.live.set(id, (this.live.get(id) ?? 1) - 1);
      throw err;
    }
  }

  /** Called once per writer: its spool writer closes; the task is no longer live here. */
  async release(taskId: string, inner: TaskLogWriter): Promise<void> {
    try {
      await inner.close();
    } finally {
      const n = (this.live.get(taskId) ?? 1) - 1;
      if (n > 0) this.live.set(taskId, n);
      else this.live.delete(taskId);
    }
  }

  /** Archives a task whose writer closed here (after an archive in progress). Throws when the upload fails. */
  async archive(taskId: string): Promise<void> {
    try {
      await this.exclusive(taskId, async () => void (await this.upload(taskId, false)));
      this.failedHere.delete(taskId);
    } catch (err) {
      this.failedHere.add(taskId);
      throw err;
    }
  }

  /** Archives every spooled task whose writer closed (or whose process died) without archiving. */
  async archivePending(): Promise<{ archived: number; failed: number }> {
    let names: string[];
    try {
      names = await readdir(join(this.dir, MARKERS));
    } catch (err) {
      if (isEnoent(err)) return { archived: 0, failed: 0 };
      throw err;
    }
    let archived = 0;
    let failed = 0;
    for (const name of names) {
      let taskId: string;
      try {
        taskId = JSON.parse(await readFile(join(this.dir, MARKERS, name), "utf8")) as string;
      } catch {
        continue;
      }
      if (this.live.has(taskId)) continue;
      try {
        let done = false;
        await this.exclusive(taskId, async () => {
          done = await this.upload(taskId, !this.failedHere.has(taskId));
        });
        this.failedHere.delete(taskId);
        if (done) archived++;
      } catch (err) {
        failed++;
        this.log.warn({ err, taskId }, "archiving a task's log failed; will retry");
      }
    }
    return { archived, failed };
  }

  private exclusive(taskId: string, fn: () => Promise<void>): Promise<void> {
    const prev = this.busy.get(taskId) ?? Promise.resolve();
    const p = prev.catch(() => undefined).then(fn);
    this.busy.set(taskId, p);
    const clear = (): void => {
      if (this.busy.get(taskId) === p) this.busy.delete(taskId);
    };
    p.then(clear, clear);
    return p;
  }

  /**
   * Uploads a spooled task and drops the spool copy; false when it is left for later: a writer
   * (here, or of another instance sharing the spool) still has it. `unowned`: no writer closed it
   * here, so only files quiet for `staleMs` are taken (a dead writer's, recovered first).
   */
  private async upload(taskId: string, unowned: boolean): Promise<boolean> {
    if (this.live.has(taskId)) return false; // its writer archives it when it closes
    const dir = this.spool.taskDir(taskId);
    let metaText: string;
    let indexText: string;
    try {
      metaText = await readFile(join(dir, "meta.json"), "utf8");
      indexText = await readFile(join(dir, "index.json"), "utf8");
    } catch (err) {
      if (!isEnoent(err)) throw err;
      // Nothing spooled (archived and deleted already, or never written).
      await rm(this.markerPath(taskId), { force: true });
      return false;
    }
    const meta = JSON.parse(metaText) as TaskMeta;
    let index = JSON.parse(indexText) as IndexFile;
    // A closed writer leaves an exact index; a live or dead one's last chunk has grown past it.
    const last = index.chunks[index.chunks.length - 1];
    const files = [join(dir, "index.json"), ...(last ? [join(dir, `${last.n}.jsonl`)] : [])];
    const stats = await Promise.all(files.map((f) => stat(f).catch(() => null)));
    const newest = Math.max(...stats.map((st) => st?.mtimeMs ?? 0));
    if (unowned && Date.now() - newest < this.staleMs) return false;
    const activeSize = stats[1]?.size ?? 0;
    if (last && activeSize !== last.fileBytes) {
      if (!unowned) return false; // another writer took the task over; it archives on close
      // A writer died without closing: the spool recovers the log (cutting a torn line).
      await (await this.spool.openWriter(meta)).close();
      indexText = await readFile(join(dir, "index.json"), "utf8");
      index = JSON.parse(indexText) as IndexFile;
    }
    const fail = (what: string, err: unknown): never => {
      throw new OutputError(
        "DROVER_ERR_OUTPUT_OBJSTORE",
        `cannot archive the log of task ${taskId} (${what}): ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    };
    try {
      const remoteMeta = await this.getJson<TaskMeta & { createdAt: number }>(
        this.key(taskId, "meta.json"),
      );
      const remoteIndex = await this.getJson<IndexFile>(this.key(taskId, "index.json"));
      const uploaded = new Map((remoteIndex?.chunks ?? []).map((c) => [c.n, c.fileBytes]));
      // Chunks only grow: one already uploaded at the same size holds the same bytes.
      const todo = index.chunks.filter((c) => uploaded.get(c.n) !== c.fileBytes);
      await inParallel(todo, UPLOAD_CONCURRENCY, async (c) => {
        const data = await readFile(join(dir, `${c.n}.jsonl`));
        if (data.length < c.fileBytes) {
          throw new Error(
            `spool chunk ${c.n} holds ${data.length} bytes, its index says ${c.fileBytes}`,
          );
        }
        await this.client.put(this.key(taskId, `${c.n}.jsonl`), data.subarray(0, c.fileBytes), {
          contentType: "application/x-ndjson",
        });
      });
      if (!remoteMeta) {
        const createdAt = Math.floor((await stat(join(dir, "meta.json"))).mtimeMs);
        await this.client.put(
          `jobs/${safeName(meta.jobId)}/${String(createdAt).padStart(15, "0")}-${encodeURIComponent(taskId)}`,
          "",
        );
        await this.client.put(
          this.key(taskId, "meta.json"),
          JSON.stringify({ ...meta, createdAt }),
          { contentType: "application/json" },
        );
      }
      await this.client.put(this.key(taskId, "index.json"), indexText, {
        contentType: "application/json",
      });
      this.indexCache.delete(taskId);
      const kept = new Set(index.chunks.map((c) => c.n));
      for (const c of remoteIndex?.chunks ?? []) {
        if (!kept.has(c.n)) await this.client.delete(this.key(taskId, `${c.n}.jsonl`));
      }
    } catch (err) {
      fail("upload", err);
    }
    // Written again meanwhile (another instance sharing the spool took the task over): keep it.
    const now = await readFile(join(dir, "index.json"), "utf8").catch(() => null);
    if (now !== indexText) return false;
    await rm(this.markerPath(taskId), { force: true });
    this.log.debug({ taskId, chunks: index.chunks.length }, "task log archived");
    if (this.keepLocal) return true;
    if (this.readers.has(taskId)) this.deleteWhenIdle.add(taskId);
    else await this.deleteLocal(taskId);
    return true;
  }

  /** Removes the spool copy atomically (a rename first), so a reader sees all of it or none. */
  private async deleteLocal(taskId: string): Promise<void> {
    if (this.live.has(taskId) || this.readers.has(taskId)) return;
    const dir = this.spool.taskDir(taskId);
    const gone = join(dirname(dir), `.gone-${randomUUID()}`);
    try {
      await rename(dir, gone);
    } catch (err) {
      if (isEnoent(err)) return;
      throw err;
    }
    await rm(gone, { recursive: true, force: true });
  }

  /** Copies an archived task into the spool (all of it, then one rename) so a writer can resume it. */
  private async restore(taskId: string): Promise<void> {
    const indexText = await this.getText(this.key(taskId, "index.json"));
    if (indexText === null) return;
    const meta = await this.getJson<TaskMeta & { createdAt: number }>(
      this.key(taskId, "meta.json"),
    );
    if (!meta) return;
    const index = JSON.parse(indexText) as IndexFile;
    const dir = this.spool.taskDir(taskId);
    const tmp = join(dirname(dir), `.restore-${randomUUID()}`);
    await mkdir(tmp, { recursive: true });
    try {
      for (const c of index.chunks) {
        const got =
          c.fileBytes > 0 ? await this.client.get(this.key(taskId, `${c.n}.jsonl`)) : null;
        if (c.fileBytes > 0 && !got) {
          throw new OutputError(
            "DROVER_ERR_OUTPUT_OBJSTORE",
            `archived chunk ${c.n} of task ${taskId} is missing`,
          );
        }
        await writeFile(join(tmp, `${c.n}.jsonl`), got ? got.body.subarray(0, c.fileBytes) : "");
      }
      await writeFile(join(tmp, "index.json"), indexText);
      const { createdAt, ...plain } = meta;
      await writeFile(join(tmp, "meta.json"), JSON.stringify(plain));
      // The spool dates a task by its meta.json; keep the archived date.
      await utimes(join(tmp, "meta.json"), new Date(createdAt), new Date(createdAt));
      await rename(tmp, dir);
    } catch (err) {
      await rm(tmp, { recursive: true, force: true });
      throw err;
    }
    this.log.debug({ taskId }, "archived task log restored to the spool");
  }

  // --- reading ---

  private async getText(key: string): Promise<string | null> {
    const r = await this.client.get(key);
    return r ? r.body.toString("utf8") : null;
  }

  private async getJson<T>(key: string): Promise<T | null> {
    const t = await this.getText(key);
    return t === null ? null : (JSON.parse(t) as T);
  }

  private enter(taskId: string): void {
    this.readers.set(taskId, (this.readers.get(taskId) ?? 0) + 1);
  }

  private leave(taskId: string): void {
    const n = (this.readers.get(taskId) ?? 1) - 1;
    if (n > 0) {
      this.readers.set(taskId, n);
      return;
    }
    this.readers.delete(taskId);
    if (this.deleteWhenIdle.delete(taskId)) {
      this.exclusive(taskId, () => this.deleteLocal(taskId)).catch((err: unknown) =>
        this.log.warn({ err, taskId }, "deleting an archived spool copy failed"),
      );
    }
  }

  /** Runs `local` on the spool while the task is there (and still there after), else `remote`. */
  private async either<T>(
    taskId: string,
    local: () => Promise<T>,
    remote: () => Promise<T>,
  ): Promise<T> {
    if (await this.spool.getMeta(taskId)) {
      this.enter(taskId);
      try {
        const r = await local();
        if (await this.spool.getMeta(taskId)) return r;
      } catch (err) {
        if (await this.spool.getMeta(taskId)) throw err;
      } finally {
        this.leave(taskId);
      }
      // Archived and deleted by another instance mid-read: the bucket has all of it.
    }
    return this.withFreshIndex(taskId, remote);
  }

  /** Runs a bucket read; once more, with the index fetched again, if a chunk it named was replaced. */
  private async withFreshIndex<T>(taskId: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (!(err instanceof MissingChunk)) throw err;
      this.indexCache.delete(taskId);
      try {
        return await fn();
      } catch (again) {
        throw again instanceof MissingChunk ? this.corrupt(taskId, again) : again;
      }
    }
  }

  private corrupt(taskId: string, err: MissingChunk): OutputError {
    return new OutputError(
      "DROVER_ERR_OUTPUT_OBJSTORE",
      `the archived log of task ${taskId} is incomplete: its index names ${err.message}, which is not in the bucket`,
    );
  }

  /** The archived index; briefly cached (a replay reads it once per page). */
  private async remoteIndex(taskId: string): Promise<IndexFile | null> {
    const hit = this.indexCache.get(taskId);
    if (hit && Date.now() - hit.at < INDEX_TTL_MS) return hit.index;
    const index = await this.getJson<IndexFile>(this.key(taskId, "index.json"));
    if (!index) return null; // not archived yet: ask again next time
    this.indexCache.set(taskId, { at: Date.now(), index });
    if (this.indexCache.size > 256) {
      this.indexCache.delete(this.indexCache.keys().next().value as string);
    }
    return index;
  }

  /** Archived chunk `c`: fetched up to the size the index records, parsed, cached. */
  private async remoteChunk(taskId: string, c: ChunkInfo): Promise<ParsedChunk> {
    if (c.fileBytes === 0) return { entries: [], validBytes: 0 };
    const cacheKey = `${taskId}\n${c.n}\n${c.fileBytes}`;
    const hit = this.cache.get(cacheKey);
    if (hit) {
      this.cache.delete(cacheKey);
      this.cache.set(cacheKey, hit);
      return hit;
    }
    const got = await this.client.get(this.key(taskId, `${c.n}.jsonl`), {
      start: 0,
      end: c.fileBytes - 1,
    });
    if (!got || got.body.length < c.fileBytes) {
      throw new MissingChunk(`chunk ${c.n} of task ${taskId}`);
    }
    const parsed = parseChunkLines(got.body);
    this.cache.set(cacheKey, parsed);
    if (this.cache.size > this.cacheSize)
      this.cache.delete(this.cache.keys().next().value as string);
    return parsed;
  }

  async getMeta(taskId: string): Promise<TaskMeta | null> {
    const local = await this.spool.getMeta(taskId);
    if (local) return local;
    const remote = await this.getJson<TaskMeta & { createdAt?: number }>(
      this.key(taskId, "meta.json"),
    );
    if (!remote) return null;
    return { taskId: remote.taskId, jobId: remote.jobId, projectId: remote.projectId };
  }

  async listJobTasks(jobId: string): Promise<string[]> {
    // The spool first: a task deleted from it after this was archived before, so the listing
    // below has it.
    const found = new Map<string, number>();
    for (const id of await this.spool.listJobTasks(jobId)) {
      const st = await stat(join(this.spool.taskDir(id), "meta.json")).catch(() => null);
      if (st) found.set(id, Math.floor(st.mtimeMs));
    }
    for (const o of await this.client.list(`jobs/${safeName(jobId)}/`)) {
      const m = /\/(\d{15})-([^/]+)$/.exec(o.key);
      if (!m) continue;
      found.set(decodeURIComponent(m[2] as string), Number(m[1]));
    }
    return [...found.entries()]
      .map(([id, at], i) => ({ id, at, i }))
      .sort((a, b) => a.at - b.at || a.i - b.i)
      .map((t) => t.id);
  }

  stat(taskId: string): Promise<TaskLogStat | null> {
    return this.either(
      taskId,
      () => this.spool.stat(taskId),
      async () => {
        const index = await this.remoteIndex(taskId);
        if (!index) return null;
        const last = index.chunks[index.chunks.length - 1];
        return {
          lastSeq: last ? last.lastSeq : 0,
          textBytes: last ? last.textStart + last.textBytes : 0,
          droppedTextBytes: index.dropped?.textBytes ?? 0,
          finished: index.finished,
        };
      },
    );
  }

  readEntries(
    taskId: string,
    fromSeq: number,
    opts: { toSeq?: number; maxBytes?: number } = {},
  ): Promise<{ entries: LogEntry[]; done: boolean }> {
    return this.either(
      taskId,
      () => this.spool.readEntries(taskId, fromSeq, opts),
      () => this.remoteReadEntries(taskId, fromSeq, opts),
    );
  }

  private async remoteReadEntries(
    taskId: string,
    fromSeq: number,
    opts: { toSeq?: number; maxBytes?: number },
  ): Promise<{ entries: LogEntry[]; done: boolean }> {
    const index = await this.remoteIndex(taskId);
    if (!index) return { entries: [], done: true };
    return readEntryRange(
      index,
      fromSeq,
      opts,
      async (c) => (await this.remoteChunk(taskId, c)).entries,
    );
  }

  async *readText(
    taskId: string,
    opts: { fromByte?: number; toByte?: number } = {},
  ): AsyncIterable<string> {
    if (!(await this.spool.getMeta(taskId))) {
      yield* this.remoteReadText(taskId, opts);
      return;
    }
    // Where the text read so far ends, so a read whose spool copy vanishes resumes from the bucket.
    let pos = opts.fromByte ?? 0;
    const local = await readFile(join(this.spool.taskDir(taskId), "index.json"), "utf8").then(
      (t) => (JSON.parse(t) as IndexFile).dropped,
      () => null,
    );
    const marker = local ? droppedLine(droppedEntry(local)) : null;
    this.enter(taskId);
    try {
      for await (const piece of this.spool.readText(taskId, opts)) {
        if (local && piece === marker) pos = local.textStart + local.textBytes;
        else pos += Buffer.byteLength(piece);
        yield piece;
      }
    } finally {
      this.leave(taskId);
    }
    if (await this.spool.getMeta(taskId)) return;
    if (opts.toByte !== undefined && pos >= opts.toByte) return;
    yield* this.remoteReadText(taskId, { fromByte: pos, toByte: opts.toByte });
  }

  private async *remoteReadText(
    taskId: string,
    opts: { fromByte?: number; toByte?: number },
    retried = false,
  ): AsyncIterable<string> {
    const from = opts.fromByte ?? 0;
    const index = await this.remoteIndex(taskId);
    if (!index) return;
    let at = from;
    try {
      yield* readTextRange(index, from, opts.toByte ?? Number.POSITIVE_INFINITY, async (c) => {
        at = c.textStart;
        return (await this.remoteChunk(taskId, c)).entries;
      });
    } catch (err) {
      // A chunk replaced mid-read (the task archived again): the rest comes from the new index.
      if (!(err instanceof MissingChunk)) throw err;
      if (retried) throw this.corrupt(taskId, err);
      this.indexCache.delete(taskId);
      yield* this.remoteReadText(
        taskId,
        { fromByte: Math.max(from, at), toByte: opts.toByte },
        true,
      );
    }
  }

  tailStart(taskId: string, bytes: number): Promise<TailStart | null> {
    return this.either(
      taskId,
      () => this.spool.tailStart(taskId, bytes),
      () => this.remoteTailStart(taskId, bytes),
    );
  }

  private async remoteTailStart(taskId: string, bytes: number): Promise<TailStart | null> {
    const index = await this.remoteIndex(taskId);
    if (!index) return null;
    return findTail(index, bytes, async (c) => (await this.remoteChunk(taskId, c)).entries);
  }
}

/** A spool writer whose `close` also archives the task (and, after a failed upload, retries it). */
class ObjectTaskWriter implements TaskLogWriter {
  private released = false;
  private archived = false;

  constructor(
    private readonly store: ObjectLogStore,
    private readonly inner: TaskLogWriter,
    private readonly taskId: string,
  ) {}

  get lastSeq(): number {
    return this.inner.lastSeq;
  }

  append(entries: StoredFrame[], json?: string[]): Promise<void> {
    return this.inner.append(entries, json);
  }

  async close(): Promise<void> {
    if (this.archived) return;
    if (!this.released) {
      this.released = true;
      await this.store.release(this.taskId, this.inner);
    }
    await this.store.archive(this.taskId);
    this.archived = true;
  }
}
