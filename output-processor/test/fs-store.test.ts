import { open, readdir } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FsLogStore } from "@drover/output-processor";
import { frames, tempDir } from "./helpers/env.js";

const meta = { taskId: "task-1", jobId: "job-1", projectId: "p" };

async function collect(it: AsyncIterable<string>): Promise<string> {
  let s = "";
  for await (const p of it) s += p;
  return s;
}

describe("FsLogStore", () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(() => dir.cleanup());

  it("reads any seq or byte range across chunks, from a writer or after it closed", async () => {
    const store = new FsLogStore({ dir: dir.dir, chunkBytes: 8 * 1024 });
    const w = await store.openWriter(meta);
    const all = frames(1, 2000);
    for (let i = 0; i < all.length; i += 37) await w.append(all.slice(i, i + 37));
    const text = all.map((f) => (f.kind === "output" ? f.data : "")).join("");
    for (const phase of ["open", "closed"]) {
      if (phase === "closed") await w.close();
      const r = await store.readEntries("task-1", 1500, { toSeq: 1510 });
      expect(r.entries.map((e) => e.seq)).toEqual([...Array(10).keys()].map((i) => 1500 + i));
      const page = await store.readEntries("task-1", 1, { maxBytes: 10_000 });
      expect(page.done).toBe(false);
      expect(page.entries[0]?.seq).toBe(1);
      const tail = await store.readEntries("task-1", 1995);
      expect(tail.entries.map((e) => e.seq)).toEqual([1995, 1996, 1997, 1998, 1999, 2000]);
      expect(tail.done).toBe(true);
      expect(await collect(store.readText("task-1", { fromByte: 12_345, toByte: 54_321 }))).toBe(
        text.slice(12_345, 54_321),
      );
      expect(await collect(store.readText("task-1"))).toBe(text);
      expect((await store.stat("task-1"))?.lastSeq).toBe(2000);
    }
    expect(await store.listJobTasks("job-1")).toEqual(["task-1"]);
  });

  it("keeps head and tail beyond the limit with a visible dropped line", async () => {
    const store = new FsLogStore({ dir: dir.dir, maxTaskBytes: 64 * 1024, chunkBytes: 8 * 1024 });
    const w = await store.openWriter(meta);
    const all = frames(1, 3000);
    for (let i = 0; i < all.length; i += 10) await w.append(all.slice(i, i + 10));
    await w.close();
    const files = (await readdir(store.taskDir("task-1"))).filter((f) => f.endsWith(".jsonl"));
    expect(files.length).toBeLessThanOrEqual(10);
    const text = await collect(store.readText("task-1"));
    expect(text.startsWith("00000001")).toBe(true);
    expect(text.endsWith(`00003000${"x".repeat(91)}\n`)).toBe(true);
    const m = /\[drover: ([\d,]+) bytes of output \(frames (\d+)-(\d+)\) dropped here/.exec(text);
    expect(m).not.toBeNull();
    const [, bytes, from, to] = m as unknown as [string, string, string, string];
    expect(Number(bytes.replace(/,/g, ""))).toBe((Number(to) - Number(from) + 1) * 100);
    const entries = (await store.readEntries("task-1", 1, { maxBytes: 1e9 })).entries;
    const seqs = entries.map((e) => (e.kind === "dropped" ? `${e.seq}-${e.toSeq}` : e.seq));
    expect(seqs).toContain(`${from}-${to}`);
    expect(entries[entries.length - 1]?.seq).toBe(3000);
    // Reading from inside the dropped region starts with the marker.
    const mid = await store.readEntries("task-1", Number(from) + 3);
    expect(mid.entries[0]?.kind).toBe("dropped");
  });

  it("finds where the last N bytes of output start, across chunks and in the active one", async () => {
    const store = new FsLogStore({ dir: dir.dir, chunkBytes: 8 * 1024 });
    expect(await store.tailStart("task-1", 100)).toBeNull();
    const w = await store.openWriter(meta);
    // A step header first and frames of 100 bytes: seq s (s >= 2) holds bytes [(s-2)*100, (s-1)*100).
    await w.append([{ kind: "step_started", seq: 1, ts: 1, step: 0, name: "Build" }]);
    const all = frames(2, 2000);
    for (let i = 0; i < all.length; i += 37) await w.append(all.slice(i, i + 37));
    const text = all.map((f) => (f.kind === "output" ? f.data : "")).join("");
    for (const phase of ["open", "closed"]) {
      if (phase === "closed") await w.close();
      // From the start of the frame holding the first byte: the last 1,050 bytes start in 1991.
      expect(await store.tailStart("task-1", 1050)).toEqual({ seq: 1991, textStart: 198_900 });
      expect(await store.tailStart("task-1", 1001)).toEqual({ seq: 1991, textStart: 198_900 });
      expect(await store.tailStart("task-1", 1100)).toEqual({ seq: 1991, textStart: 198_900 });
      expect(await store.tailStart("task-1", 1000)).toEqual({ seq: 1992, textStart: 199_000 });
      expect(await store.tailStart("task-1", 1)).toEqual({ seq: 2001, textStart: 199_900 });
      // Far back, in a sealed chunk.
      const far = await store.tailStart("task-1", 150_000);
      expect(far).toEqual({ seq: 502, textStart: 50_000 });
      const fromFar = await collect(store.readText("task-1", { fromByte: far?.textStart }));
      expect(fromFar).toBe(text.slice(50_000));
      const entries = await store.readEntries("task-1", far?.seq as number, { maxBytes: 1e9 });
      expect(entries.entries[0]?.seq).toBe(502);
      // Everything fits: from the start, header included; nothing asked: after the last frame.
      expect(await store.tailStart("task-1", 10_000_000)).toEqual({ seq: 1, textStart: 0 });
      expect(await store.tailStart("task-1", 200_000)).toEqual({ seq: 1, textStart: 0 });
      expect(await store.tailStart("task-1", 0)).toEqual({ seq: 2002, textStart: 200_000 });
    }
  });

  it("counts only kept bytes towards a tail when the middle was dropped", async () => {
    const store = new FsLogStore({ dir: dir.dir, maxTaskBytes: 64 * 1024, chunkBytes: 8 * 1024 });
    const w = await store.openWriter(meta);
    const all = frames(1, 3000);
    for (let i = 0; i < all.length; i += 10) await w.append(all.slice(i, i + 10));
    await w.close();
    const cut = (await store.readEntries("task-1", 1, { maxBytes: 1e9 })).entries.find(
      (e) => e.kind === "dropped",
    );
    if (cut?.kind !== "dropped") throw new Error("expected a dropped region");
    // Inside the kept tail: plain arithmetic from the end.
    expect(await store.tailStart("task-1", 1000)).toEqual({ seq: 2991, textStart: 299_000 });
    // More than the kept tail: the dropped bytes do not count, so it reaches into the head.
    const keptTail = (3000 - cut.toSeq) * 100;
    const start = await store.tailStart("task-1", keptTail + 500);
    expect(start?.seq).toBe(cut.seq - 5);
    expect(start?.textStart).toBe((cut.seq - 6) * 100);
    // Reading from there shows the head's last frames, the drop, then the tail.
    const seqs = (
      await store.readEntries("task-1", start?.seq as number, { maxBytes: 1e9 })
    ).entries
      .slice(0, 7)
      .map((e) => e.kind);
    expect(seqs).toEqual(["output", "output", "output", "output", "output", "dropped", "output"]);
    const text = await collect(store.readText("task-1", { fromByte: start?.textStart }));
    expect(text).toMatch(/dropped here/);
    expect(text.startsWith(String(cut.seq - 5).padStart(8, "0"))).toBe(true);
    // Exactly the kept tail: its first frame, just after the drop.
    expect(await store.tailStart("task-1", keptTail)).toEqual({
      seq: cut.toSeq + 1,
      textStart: cut.toSeq * 100,
    });
    expect(await store.tailStart("task-1", 1e9)).toEqual({ seq: 1, textStart: 0 });
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
