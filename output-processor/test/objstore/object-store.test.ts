import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import {
  ObjectLogStore,
  type LogStore,
  type StoredFrame,
  type TaskMeta,
} from "@drover/output-processor";
import { frames, tempDir } from "../helpers/env.js";
import type { S3TestServer } from "../../src/objstore/testing/s3-server.js";
import { s3Target, type S3Target } from "./target.js";

const meta: TaskMeta = { taskId: "task-1", jobId: "job-1", projectId: "p" };

function textOf(fs: StoredFrame[]): string {
  return fs.map((f) => (f.kind === "output" ? f.data : "")).join("");
}

async function collect(it: AsyncIterable<string>): Promise<string> {
  let s = "";
  for await (const p of it) s += p;
  return s;
}

async function write(store: LogStore, m: TaskMeta, all: StoredFrame[], batch = 37): Promise<void> {
  const w = await store.openWriter(m);
  for (let i = 0; i < all.length; i += batch) await w.append(all.slice(i, i + batch));
  await w.close();
}

/** The reads the HTTP routes and the Pusher replay make, checked against the frames written. */
async function expectLog(store: LogStore, taskId: string, all: StoredFrame[]): Promise<void> {
  const text = textOf(all);
  const last = all.length;
  const r = await store.readEntries(taskId, 1500, { toSeq: 1510 });
  expect(r.entries.map((e) => e.seq)).toEqual([...Array(10).keys()].map((i) => 1500 + i));
  const page = await store.readEntries(taskId, 1, { maxBytes: 10_000 });
  expect(page.done).toBe(false);
  expect(page.entries[0]?.seq).toBe(1);
  const tail = await store.readEntries(taskId, last - 5);
  expect(tail.entries.map((e) => e.seq)).toEqual([...Array(6).keys()].map((i) => last - 5 + i));
  expect(tail.done).toBe(true);
  expect(await collect(store.readText(taskId, { fromByte: 12_345, toByte: 54_321 }))).toBe(
    text.slice(12_345, 54_321),
  );
  expect(await collect(store.readText(taskId))).toBe(text);
  expect(await store.stat(taskId)).toEqual({
    lastSeq: last,
    textBytes: Buffer.byteLength(text),
    droppedTextBytes: 0,
    finished: false,
  });
  expect(await store.tailStart(taskId, 1000)).toEqual({
    seq: last - 9,
    textStart: (last - 10) * 100,
  });
  // Rounded back to the start of the frame holding the point.
  expect(await store.tailStart(taskId, 1050)).toEqual({
    seq: last - 10,
    textStart: (last - 11) * 100,
  });
  expect(await store.tailStart(taskId, 10_000_000)).toEqual({ seq: 1, textStart: 0 });
  expect(await store.getMeta(taskId)).toEqual({ ...meta, taskId });
}

describe("ObjectLogStore", () => {
  let t: S3Target;
  let dirs: { dir: string; cleanup: () => Promise<void> }[];
  const onCleanup: (() => Promise<void>)[] = [];
  const stores: ObjectLogStore[] = [];
  async function newStore(
    opts: { keepLocal?: boolean; maxTaskBytes?: number; s3?: S3Target["config"] } = {},
  ): Promise<ObjectLogStore> {
    const d = await tempDir();
    dirs.push(d);
    return sharedStore(d.dir, opts);
  }
  function sharedStore(
    dir: string,
    opts: {
      keepLocal?: boolean;
      maxTaskBytes?: number;
      s3?: S3Target["config"];
      staleMs?: number;
    } = {},
  ): ObjectLogStore {
    const s = new ObjectLogStore({
      dir,
      chunkBytes: 8 * 1024,
      maxTaskBytes: opts.maxTaskBytes,
      keepLocal: opts.keepLocal,
      staleMs: opts.staleMs,
      s3: { ...(opts.s3 ?? t.config), maxRetries: 1 },
    });
    stores.push(s);
    return s;
  }
  beforeEach(async () => {
    t = await s3Target();
    dirs = [];
  });
  afterEach(async () => {
    for (const s of stores.splice(0)) s.close();
    for (const d of dirs) await d.cleanup();
    for (const f of onCleanup.splice(0)) await f();
    await t.close();
  });

  it("reads the same while writing, from the spool, from the bucket and from another instance", async () => {
    const a = await newStore({ keepLocal: true });
    const all = frames(1, 2000);
    const w = await a.openWriter(meta);
    for (let i = 0; i < all.length; i += 37) await w.append(all.slice(i, i + 37));
    await expectLog(a, "task-1", all); // open writer, spool
    await w.close();
    expect(await a.hasLocal("task-1")).toBe(true);
    await expectLog(a, "task-1", all); // closed, archived, kept in the spool
    const b = await newStore(); // a second output-processor: empty spool
    expect(await b.hasLocal("task-1")).toBe(false);
    await expectLog(b, "task-1", all);
    expect(await b.listJobTasks("job-1")).toEqual(["task-1"]);
    expect(await b.getMeta("nope")).toBeNull();
    expect(await b.stat("nope")).toBeNull();
    expect(await b.tailStart("nope", 10)).toBeNull();
  });

  it("archives on close (index last) and deletes the spool copy", async () => {
    const a = await newStore();
    await write(a, meta, frames(1, 500));
    expect(await a.hasLocal("task-1")).toBe(false);
    const keys = await t.client.list("tasks/task-1/");
    const names = keys.map((k) => k.key.slice("tasks/task-1/".length)).sort();
    expect(names).toContain("index.json");
    expect(names).toContain("meta.json");
    const chunkNames = names.filter((n) => n.endsWith(".jsonl"));
    expect(chunkNames.length).toBeGreaterThan(3);
    if (t.server) {
      // The index went up after every chunk and the meta.
      expect(t.server.keys().filter((k) => k.startsWith(t.config.prefix)).length).toBe(
        chunkNames.length + 3,
      );
    }
    const all = frames(1, 500);
    expect(await collect(a.readText("task-1"))).toBe(textOf(all));
  });

  it("reopens an archived task where it stopped and archives the rest", async () => {
    const a = await newStore();
    await write(a, meta, frames(1, 300));
    expect(await a.hasLocal("task-1")).toBe(false);
    const w = await a.openWriter(meta);
    expect(w.lastSeq).toBe(300);
    await w.append(frames(301, 200));
    await w.close();
    const b = await newStore();
    const e = await b.readEntries("task-1", 1, { maxBytes: 1e9 });
    expect(e.entries.map((x) => x.seq)).toEqual([...Array(500).keys()].map((i) => i + 1));
    expect(await collect(b.readText("task-1"))).toBe(textOf(frames(1, 500)));
    // A second instance reopening it resumes too.
    const w2 = await b.openWriter(meta);
    expect(w2.lastSeq).toBe(500);
    await w2.close();
  });

  it("lists a job's tasks from the spool and the bucket, in creation order", async () => {
    const a = await newStore({ keepLocal: false });
    await write(a, { ...meta, taskId: "t-1" }, frames(1, 5));
    await new Promise((r) => setTimeout(r, 5));
    const live = await a.openWriter({ ...meta, taskId: "t-2" });
    await live.append(frames(1, 3));
    await new Promise((r) => setTimeout(r, 5));
    const b = await newStore();
    await write(b, { ...meta, taskId: "t 3/odd" }, frames(1, 2));
    await write(b, { ...meta, taskId: "other", jobId: "job-2" }, frames(1, 2));
    expect(await a.listJobTasks("job-1")).toEqual(["t-1", "t-2", "t 3/odd"]);
    expect(await b.listJobTasks("job-1")).toEqual(["t-1", "t 3/odd"]);
    await live.close();
    expect(await b.listJobTasks("job-1")).toEqual(["t-1", "t-2", "t 3/odd"]);
    expect(await b.listJobTasks("job-2")).toEqual(["other"]);
    expect(await b.listJobTasks("job-none")).toEqual([]);
    expect((await b.readEntries("t 3/odd", 1)).entries.map((e) => e.seq)).toEqual([1, 2]);
  });

  it("serves cached archived chunks without fetching them again", async () => {
    const server = t.server;
    const a = await newStore();
    await write(a, meta, frames(1, 1000));
    const b = await newStore();
    await collect(b.readText("task-1"));
    const before = server?.requests.get("GetObject") ?? 0;
    const r = await b.readEntries("task-1", 990);
    expect(r.entries.length).toBe(11);
    // At most the index again (it is reused for a moment); the chunks come from the cache.
    if (server) expect((server.requests.get("GetObject") ?? 0) - before).toBeLessThanOrEqual(1);
  });

  it("says an archived log is incomplete when a chunk its index names is gone", async () => {
    const a = await newStore();
    await write(a, meta, frames(1, 500));
    await t.client.delete("tasks/task-1/3.jsonl");
    const b = await newStore();
    const seen = async (p: Promise<unknown>): Promise<Error & { code?: string }> =>
      p.then(
        () => {
          throw new Error("expected a failure");
        },
        (e: unknown) => e as Error & { code?: string },
      );
    for (const err of [
      await seen(b.readEntries("task-1", 1, { maxBytes: 1e9 })),
      await seen(collect(b.readText("task-1"))),
    ]) {
      expect(err.code).toBe("DROVER_ERR_OUTPUT_OBJSTORE");
      expect(err.message).toMatch(/archived log of task task-1 is incomplete: .*chunk 3/);
    }
    // What comes before the gap still reads.
    expect((await b.readEntries("task-1", 1, { toSeq: 10 })).entries.length).toBe(9);
  });

  it("fails clearly on bad credentials", async () => {
    const a = await newStore({
      s3: { ...t.config, secretAccessKey: "wrong-secret-0123456789abcdef" },
    });
    const err = await a.openWriter(meta).then(
      () => null,
      (e: unknown) => e as Error & { code?: string },
    );
    expect(err?.code).toBe("DROVER_ERR_OUTPUT_OBJSTORE");
    expect(err?.message).toMatch(
      /cannot open the log of task task-1: .*403 SignatureDoesNotMatch.*AWS_SECRET_ACCESS_KEY/,
    );
    expect(await a.hasLocal("task-1")).toBe(false);
    const good = await newStore();
    await write(good, meta, frames(1, 20));
    const reader = await newStore({ s3: { ...t.config, accessKeyId: "AKIANOSUCHKEY0000000" } });
    for (const read of [
      () => reader.getMeta("task-1"),
      () => reader.readEntries("task-1", 1),
      () => collect(reader.readText("task-1")),
    ]) {
      const e2 = await read().then(
        () => null,
        (e: unknown) => e as Error & { code?: string },
      );
      expect(e2?.code).toBe("DROVER_ERR_OUTPUT_OBJSTORE");
      expect(e2?.message).toMatch(/403 InvalidAccessKeyId/);
    }
  });

  it("survives an outage during archive: the spool stays and a later close archives it", async () => {
    // Always the test server: the test stops and restarts it.
    const local = await s3Target({ testServer: true });
    const server = local.server as S3TestServer;
    onCleanup.push(() => local.close());
    const a = await newStore({ s3: local.config });
    const all = frames(1, 400);
    const w = await a.openWriter(meta);
    for (let i = 0; i < all.length; i += 50) await w.append(all.slice(i, i + 50));
    await server.stop();
    await expect(w.close()).rejects.toMatchObject({ code: "DROVER_ERR_OUTPUT_OBJSTORE" });
    expect(await a.hasLocal("task-1")).toBe(true);
    expect(await collect(a.readText("task-1"))).toBe(textOf(all));
    await server.start();
    await w.close(); // the retry
    expect(await a.hasLocal("task-1")).toBe(false);
    const b = await newStore({ s3: local.config });
    expect(await collect(b.readText("task-1"))).toBe(textOf(all));
  });

  it("an archive that fails half-way publishes nothing and completes on retry", async () => {
    const local = await s3Target({ testServer: true });
    const server = local.server as S3TestServer;
    onCleanup.push(() => local.close());
    const a = await newStore({ s3: local.config });
    const all = frames(1, 600);
    const w = await a.openWriter(meta);
    for (let i = 0; i < all.length; i += 50) await w.append(all.slice(i, i + 50));
    // Two lookups and a few chunk uploads succeed, then the bucket fails for a while.
    server.failNext(1000, { after: 5 });
    await expect(w.close()).rejects.toThrow(/SlowDown/);
    const keys = server.keys().filter((k) => k.startsWith(`${local.config.prefix}tasks/task-1/`));
    expect(keys.some((k) => k.endsWith(".jsonl"))).toBe(true);
    expect(keys.some((k) => k.endsWith("index.json") || k.endsWith("meta.json"))).toBe(false);
    server.failNext(0);
    const other = await newStore({ s3: local.config });
    expect(await other.getMeta("task-1")).toBeNull(); // no index naming a missing chunk
    expect(await other.stat("task-1")).toBeNull();
    expect(await a.hasLocal("task-1")).toBe(true);
    expect(await a.archivePending()).toEqual({ archived: 1, failed: 0 });
    expect(await a.hasLocal("task-1")).toBe(false);
    expect(await collect(other.readText("task-1"))).toBe(textOf(all));
  });

  it("archives what a stopped process left in its spool (archivePending)", async () => {
    const local = await s3Target({ testServer: true });
    const server = local.server as S3TestServer;
    onCleanup.push(() => local.close());
    const d = await tempDir();
    dirs.push(d);
    const a = sharedStore(d.dir, { s3: local.config });
    const w = await a.openWriter(meta);
    await w.append(frames(1, 100));
    await server.stop();
    await expect(w.close()).rejects.toThrow(/unreachable/);
    a.close();
    await server.start();
    // Files fresh from a writer that closed in another process: taken once quiet for staleMs.
    expect(await sharedStore(d.dir, { s3: local.config }).archivePending()).toEqual({
      archived: 0,
      failed: 0,
    });
    const restarted = sharedStore(d.dir, { s3: local.config, staleMs: 0 });
    expect(await restarted.archivePending()).toEqual({ archived: 1, failed: 0 });
    expect(await restarted.hasLocal("task-1")).toBe(false);
    expect(await restarted.archivePending()).toEqual({ archived: 0, failed: 0 });
    expect((await restarted.stat("task-1"))?.lastSeq).toBe(100);
  });

  it("a sweep leaves a task another instance sharing the spool is writing", async () => {
    const d = await tempDir();
    dirs.push(d);
    const a = sharedStore(d.dir);
    const b = sharedStore(d.dir);
    const w = await a.openWriter(meta);
    await w.append(frames(1, 300));
    expect(await b.archivePending()).toEqual({ archived: 0, failed: 0 });
    expect(await b.hasLocal("task-1")).toBe(true);
    await w.append(frames(301, 10));
    await w.close();
    expect(await b.hasLocal("task-1")).toBe(false);
    expect((await b.stat("task-1"))?.lastSeq).toBe(310);
  });

  it("a sweep recovers and archives a task whose writer died without closing", async () => {
    const d = await tempDir();
    dirs.push(d);
    const dead = sharedStore(d.dir);
    const w = await dead.openWriter(meta);
    await w.append(frames(1, 250));
    // The process dies here: no close, the spool index lags behind the last chunk.
    const after = sharedStore(d.dir, { staleMs: 0 });
    expect(await after.archivePending()).toEqual({ archived: 1, failed: 0 });
    expect(await after.hasLocal("task-1")).toBe(false);
    const reader = await newStore();
    expect(await collect(reader.readText("task-1"))).toBe(textOf(frames(1, 250)));
  });

  it("a read in progress when its task is archived finishes with all of it", async () => {
    const a = await newStore();
    const all = frames(1, 2000);
    const w = await a.openWriter(meta);
    for (let i = 0; i < all.length; i += 100) await w.append(all.slice(i, i + 100));
    const it = a.readText("task-1")[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    await w.close(); // archived; the spool copy waits for the reader
    expect(await a.hasLocal("task-1")).toBe(true);
    let text = first.value as string;
    for (let r = await it.next(); !r.done; r = await it.next()) text += r.value;
    expect(text).toBe(textOf(all));
    await vi.waitFor(
      async () => expect(await a.hasLocal("task-1"), "spool copy deleted").toBe(false),
      { timeout: 5000 },
    );
  });

  it("a read whose spool copy another instance deletes mid-read resumes from the bucket", async () => {
    const d = await tempDir();
    dirs.push(d);
    const writerSide = sharedStore(d.dir);
    const readerSide = sharedStore(d.dir);
    const all = frames(1, 2000);
    const w = await writerSide.openWriter(meta);
    for (let i = 0; i < all.length; i += 100) await w.append(all.slice(i, i + 100));
    const it = readerSide.readText("task-1", { fromByte: 50 })[Symbol.asyncIterator]();
    const first = await it.next();
    await w.close(); // the other instance does not know of this read: the spool copy goes now
    expect(await readerSide.hasLocal("task-1")).toBe(false);
    let text = first.value as string;
    for (let r = await it.next(); !r.done; r = await it.next()) text += r.value;
    expect(text).toBe(textOf(all).slice(50));
  });
});
