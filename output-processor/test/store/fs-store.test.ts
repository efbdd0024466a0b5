import { open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FsLogStore } from "@drover/output-processor";
import { frames, tempDir } from "../helpers/env.js";

const meta = { taskId: "task-1", jobId: "job-1", projectId: "p" };

describe("FsLogStore", () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => dir.cleanup());

  // The rules every LogStore keeps are in ../helpers/log-store-suite.ts; these are the disk's.
  it("deletes the files of chunks dropped past the size limit", async () => {
    const store = new FsLogStore({ dir: dir.dir, maxTaskBytes: 64 * 1024, chunkBytes: 8 * 1024 });
    const w = await store.openWriter(meta);
    const all = frames(1, 3000);
    for (let i = 0; i < all.length; i += 10) await w.append(all.slice(i, i + 10));
    await w.close();
    const files = (await readdir(store.taskDir("task-1"))).filter((f) => f.endsWith(".jsonl"));
    expect(files.length).toBeLessThanOrEqual(10);
    expect(files).toContain("0.jsonl");
  });

  it("recovers after a crash that tore the last line", async () => {
    const store = new FsLogStore({ dir: dir.dir, chunkBytes: 8 * 1024 });
    const w = await store.openWriter(meta);
    await w.append(frames(1, 5));
    // Simulate kill -9 mid-write: a torn line, writer never closed.
    const h = await open(join(store.taskDir("task-1"), "0.jsonl"), "a");
    await h.write('{"kind":"output","seq":6,"ts":1,"st');
    await h.close();
    const store2 = new FsLogStore({ dir: dir.dir, chunkBytes: 8 * 1024 });
    const w2 = await store2.openWriter(meta);
    expect(w2.lastSeq).toBe(5);
    await w2.append(frames(6, 2));
    await w2.close();
    const e = await store2.readEntries("task-1", 1);
    expect(e.entries.map((x) => x.seq)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

describe("FsLogStore writers on two instances", () => {
  it("an older writer stops once a newer one took the task over", async () => {
    const dir = await tempDir();
    try {
      const a = new FsLogStore({ dir: dir.dir, chunkBytes: 4096, ownerCheckMs: 250 });
      const b = new FsLogStore({ dir: dir.dir, chunkBytes: 4096 });
      const old = await a.openWriter(meta);
      await old.append(frames(1, 10));
      const fresh = await b.openWriter(meta);
      expect(fresh.lastSeq).toBe(10);
      await fresh.append(frames(11, 100));
      // The old writer's next append (after its 250 ms check interval) finds the takeover and
      // refuses; its close keeps the new index.
      await new Promise((r) => setTimeout(r, 300));
      await expect(old.append(frames(11, 1))).rejects.toThrow(/took this task's log over/);
      await old.close();
      await fresh.close();
      const e = await b.readEntries("task-1", 1, { maxBytes: 1e9 });
      expect(e.entries.map((x) => x.seq)).toEqual([...Array(110).keys()].map((i) => i + 1));
    } finally {
      await dir.cleanup();
    }
  });
});
