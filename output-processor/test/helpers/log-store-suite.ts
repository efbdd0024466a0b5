import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { LogEntry, LogStore, StoredFrame, TaskMeta } from "@drover/output-processor";
import { frames } from "./env.js";

/** What the suite needs of one `LogStore` implementation. */
export interface LogStoreTarget {
  /**
   * A store over fresh backing, and `peer()`: another instance over the same backing (as a second
   * output-processor would open it).
   */
  open(limits?: { maxTaskBytes?: number; chunkBytes?: number }): Promise<{
    store: LogStore;
    peer(): Promise<LogStore>;
  }>;
  /** Removes every store and its backing. */
  cleanup(): Promise<void>;
}

async function collect(it: AsyncIterable<string>): Promise<string> {
  let s = "";
  for await (const p of it) s += p;
  return s;
}

function textOf(all: readonly StoredFrame[]): string {
  return all.map((f) => (f.kind === "output" ? f.data : "")).join("");
}

const noTs = (es: LogEntry[]): LogEntry[] =>
  es.map((e) => (e.kind === "dropped" ? { ...e, ts: 0 } : e));

/**
 * The rules `LogStore` and `TaskLogWriter` (src/store/types.ts) promise, run against one
 * implementation. Every test uses its own task and job ids.
 */
export function describeLogStore(name: string, makeTarget: () => Promise<LogStoreTarget>): void {
  describe(`LogStore rules: ${name}`, () => {
    let target: LogStoreTarget;
    let ids: { taskId: string; jobId: string };
    let meta: TaskMeta;
    beforeEach(async () => {
      target = await makeTarget();
      ids = { taskId: `task-${randomUUID()}`, jobId: `job-${randomUUID()}` };
      meta = { ...ids, projectId: "p" };
    });
    afterEach(() => target.cleanup());

    it("knows nothing of a task before it is written", async () => {
      const { store } = await target.open();
      expect(await store.getMeta(ids.taskId)).toBeNull();
      expect(await store.stat(ids.taskId)).toBeNull();
      expect(await store.tailStart(ids.taskId, 100)).toBeNull();
      expect(await store.listJobTasks(ids.jobId)).toEqual([]);
      expect(await store.readEntries(ids.taskId, 1)).toEqual({ entries: [], done: true });
    });

    it("reads any seq or byte range across chunks while writing, after close and from a peer", async () => {
      const { store, peer } = await target.open({ chunkBytes: 8 * 1024 });
      const all = frames(1, 2000);
      const text = textOf(all);
      const w = await store.openWriter(meta);
      expect(w.lastSeq).toBe(0);
      for (let i = 0; i < all.length; i += 37) await w.append(all.slice(i, i + 37));
      expect(w.lastSeq).toBe(2000);
      const check = async (s: LogStore): Promise<void> => {
        const r = await s.readEntries(ids.taskId, 1500, { toSeq: 1510 });
        expect(r.entries.map((e) => e.seq)).toEqual([...Array(10).keys()].map((i) => 1500 + i));
        const tail = await s.readEntries(ids.taskId, 1995);
        expect(tail.entries.map((e) => e.seq)).toEqual([1995, 1996, 1997, 1998, 1999, 2000]);
        expect(tail.done).toBe(true);
        expect(await s.readEntries(ids.taskId, 2001)).toEqual({ entries: [], done: true });
        expect(await collect(s.readText(ids.taskId, { fromByte: 12_345, toByte: 54_321 }))).toBe(
          text.slice(12_345, 54_321),
        );
        expect(await collect(s.readText(ids.taskId, { fromByte: 199_950 }))).toBe(
          text.slice(199_950),
        );
        expect(await collect(s.readText(ids.taskId))).toBe(text);
        expect(await s.stat(ids.taskId)).toEqual({
          lastSeq: 2000,
          textBytes: Buffer.byteLength(text),
          droppedTextBytes: 0,
          finished: false,
        });
        expect(await s.getMeta(ids.taskId)).toEqual(meta);
        expect(await s.listJobTasks(ids.jobId)).toEqual([ids.taskId]);
      };
      await check(store);
      await check(await peer());
      await w.close();
      await w.close(); // idempotent
      await check(store);
      await check(await peer());
    });

    it("pages entries by about maxBytes, at least one a page, and says when it is done", async () => {
      const { store } = await target.open({ chunkBytes: 8 * 1024 });
      const w = await store.openWriter(meta);
      await w.append(frames(1, 300));
      await w.append(frames(301, 1, 50_000));
      await w.append(frames(302, 10));
      const page = await store.readEntries(ids.taskId, 1, { maxBytes: 10_000 });
      expect(page.done).toBe(false);
      expect(page.entries[0]?.seq).toBe(1);
      const size = page.entries.reduce((n, e) => n + JSON.stringify(e).length, 0);
      expect(size).toBeLessThan(10_000 * 1.25);
      expect(size).toBeGreaterThan(10_000 * 0.75);
      // One entry bigger than the budget still comes, alone.
      const big = await store.readEntries(ids.taskId, 301, { maxBytes: 1000 });
      expect(big.entries.map((e) => e.seq)).toEqual([301]);
      expect(big.done).toBe(false);
      // Walking the pages gives every entry once, in order.
      const seen: number[] = [];
      for (let next = 1; ;) {
        const p = await store.readEntries(ids.taskId, next, { maxBytes: 4096 });
        for (const e of p.entries) seen.push(e.seq);
        if (p.done) break;
        next = (p.entries.at(-1)?.seq ?? next) + 1;
      }
      expect(seen).toEqual([...Array(311).keys()].map((i) => i + 1));
      await w.close();
    });

    it("keeps every kind of entry; a held-back tail is output text; task_finished marks it finished", async () => {
      const { store, peer } = await target.open();
      const w = await store.openWriter(meta);
      const entries: StoredFrame[] = [
        { kind: "step_started", seq: 1, ts: 10, step: 0, name: "Build ✓" },
        { kind: "output", seq: 2, ts: 11, step: 0, stream: "out", data: "héllo 😀\n" },
        { kind: "output", seq: 3, ts: 12, step: 0, stream: "err", data: "\u001b[31mred\u001b[0m" },
        {
          kind: "step_finished",
          seq: 4,
          ts: 13,
          step: 0,
          exitCode: 1,
          status: "failed",
          tail: "ta",
        },
        { kind: "task_finished", seq: 5, ts: 14, result: "failed" },
      ];
      await w.append(entries.slice(0, 3));
      expect((await store.stat(ids.taskId))?.finished).toBe(false);
      await w.append(entries.slice(3));
      for (const s of [store, await peer()]) {
        expect((await s.readEntries(ids.taskId, 1)).entries).toEqual(entries);
        const text = "héllo 😀\n\u001b[31mred\u001b[0mta";
        expect(await collect(s.readText(ids.taskId))).toBe(text);
        expect(await s.stat(ids.taskId)).toEqual({
          lastSeq: 5,
          textBytes: Buffer.byteLength(text),
          droppedTextBytes: 0,
          finished: true,
        });
        // Byte offsets count UTF-8 bytes.
        const from = Buffer.byteLength("héllo 😀\n");
        expect(await collect(s.readText(ids.taskId, { fromByte: from }))).toBe(
          "\u001b[31mred\u001b[0mta",
        );
      }
      await w.close();
      expect((await store.stat(ids.taskId))?.finished).toBe(true);
    });

    it("reopens a task where it stopped, on this instance or a peer", async () => {
      const { store, peer } = await target.open({ chunkBytes: 8 * 1024 });
      const w = await store.openWriter(meta);
      await w.append(frames(1, 300));
      await w.close();
      const again = await store.openWriter(meta);
      expect(again.lastSeq).toBe(300);
      await again.append(frames(301, 100));
      await again.close();
      const other = await peer();
      const third = await other.openWriter(meta);
      expect(third.lastSeq).toBe(400);
      await third.append(frames(401, 5));
      await third.close();
      const e = await store.readEntries(ids.taskId, 1, { maxBytes: 1e9 });
      expect(e.entries.map((x) => x.seq)).toEqual([...Array(405).keys()].map((i) => i + 1));
      expect(await collect(other.readText(ids.taskId))).toBe(textOf(frames(1, 405)));
    });

    it("lists a job's tasks in creation order, and only that job's", async () => {
      const { store, peer } = await target.open();
      const names = ["t-1", "t 2/odd ✓", "t-3"].map((t) => `${t}-${ids.taskId}`);
      for (const taskId of names) {
        const w = await store.openWriter({ ...meta, taskId });
        await w.append(frames(1, 2));
        await w.close();
        await new Promise((r) => setTimeout(r, 2)); // distinct creation times
      }
      const other = await store.openWriter({ ...meta, taskId: `x-${ids.taskId}`, jobId: "other" });
      await other.append(frames(1, 1));
      await other.close();
      for (const s of [store, await peer()]) {
        expect(await s.listJobTasks(ids.jobId)).toEqual(names);
        expect((await s.readEntries(names[1] as string, 1)).entries.map((e) => e.seq)).toEqual([
          1, 2,
        ]);
      }
    });

    it("keeps the head and the tail past the size limit, with a dropped entry for the middle", async () => {
      const { store, peer } = await target.open({ maxTaskBytes: 64 * 1024, chunkBytes: 8 * 1024 });
      const all = frames(1, 3000);
      const w = await store.openWriter(meta);
      for (let i = 0; i < all.length; i += 10) await w.append(all.slice(i, i + 10));
      for (const phase of ["open", "closed"]) {
        if (phase === "closed") await w.close();
        for (const s of [store, await peer()]) {
          const entries = (await s.readEntries(ids.taskId, 1, { maxBytes: 1e9 })).entries;
          const cut = entries.find((e) => e.kind === "dropped");
          if (cut?.kind !== "dropped") throw new Error("expected a dropped entry");
          // Head, then the marker for what was dropped, then the tail, in seq order.
          expect(entries[0]?.seq).toBe(1);
          expect(entries.at(-1)?.seq).toBe(3000);
          const seqs = entries.map((e) => e.seq);
          expect(seqs).toEqual([...seqs].sort((a, b) => a - b));
          expect(cut.textBytes).toBe((cut.toSeq - cut.seq + 1) * 100);
          const kept = entries.filter((e) => e.kind === "output").length;
          expect(kept + (cut.toSeq - cut.seq + 1)).toBe(3000);
          // Stored bytes stay near the limit.
          expect(kept * 100).toBeLessThan(64 * 1024 * 1.5);
          // Reading from inside the dropped region starts with the marker.
          expect(noTs((await s.readEntries(ids.taskId, cut.seq + 3)).entries).slice(0, 1)).toEqual(
            noTs([cut]),
          );
          const text = await collect(s.readText(ids.taskId));
          expect(text.startsWith("00000001")).toBe(true);
          expect(text.endsWith(`00003000${"x".repeat(91)}\n`)).toBe(true);
          expect(text).toContain(
            `[drover: ${cut.textBytes.toLocaleString("en-US")} bytes of output (frames ${cut.seq}-${cut.toSeq}) dropped here`,
          );
          expect(await s.stat(ids.taskId)).toEqual({
            lastSeq: 3000,
            textBytes: 300_000,
            droppedTextBytes: cut.textBytes,
            finished: false,
          });
          // Byte offsets still count every byte ever received: the tail's bytes are where they were.
          expect(await collect(s.readText(ids.taskId, { fromByte: 299_900 }))).toBe(
            `00003000${"x".repeat(91)}\n`,
          );
          // A tail counts only kept bytes: inside the tail, plain arithmetic from the end.
          expect(await s.tailStart(ids.taskId, 1000)).toEqual({ seq: 2991, textStart: 299_000 });
          // Past the kept tail it reaches into the head; the dropped bytes do not count.
          const keptTail = (3000 - cut.toSeq) * 100;
          expect(await s.tailStart(ids.taskId, keptTail)).toEqual({
            seq: cut.toSeq + 1,
            textStart: cut.toSeq * 100,
          });
          expect(await s.tailStart(ids.taskId, keptTail + 500)).toEqual({
            seq: cut.seq - 5,
            textStart: (cut.seq - 6) * 100,
          });
          expect(await s.tailStart(ids.taskId, 1e9)).toEqual({ seq: 1, textStart: 0 });
        }
      }
    });

    it("finds where the last N bytes start: from the start of the frame holding that byte", async () => {
      const { store, peer } = await target.open({ chunkBytes: 8 * 1024 });
      const w = await store.openWriter(meta);
      // A step header, then frames of 100 bytes: seq s (s >= 2) holds bytes [(s-2)*100, (s-1)*100).
      await w.append([{ kind: "step_started", seq: 1, ts: 1, step: 0, name: "Build" }]);
      const all = frames(2, 2000);
      for (let i = 0; i < all.length; i += 37) await w.append(all.slice(i, i + 37));
      const text = textOf(all);
      for (const phase of ["open", "closed"]) {
        if (phase === "closed") await w.close();
        for (const s of [store, await peer()]) {
          expect(await s.tailStart(ids.taskId, 1050)).toEqual({ seq: 1991, textStart: 198_900 });
          expect(await s.tailStart(ids.taskId, 1001)).toEqual({ seq: 1991, textStart: 198_900 });
          expect(await s.tailStart(ids.taskId, 1100)).toEqual({ seq: 1991, textStart: 198_900 });
          expect(await s.tailStart(ids.taskId, 1000)).toEqual({ seq: 1992, textStart: 199_000 });
          expect(await s.tailStart(ids.taskId, 1)).toEqual({ seq: 2001, textStart: 199_900 });
          // Far back, in an earlier chunk.
          const far = await s.tailStart(ids.taskId, 150_000);
          expect(far).toEqual({ seq: 502, textStart: 50_000 });
          expect(await collect(s.readText(ids.taskId, { fromByte: far?.textStart }))).toBe(
            text.slice(50_000),
          );
          // Everything fits: from the start, header included; nothing asked: after the last frame.
          expect(await s.tailStart(ids.taskId, 200_000)).toEqual({ seq: 1, textStart: 0 });
          expect(await s.tailStart(ids.taskId, 0)).toEqual({ seq: 2002, textStart: 200_000 });
        }
      }
    });
  });
}
