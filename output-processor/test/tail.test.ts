import { randomUUID } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { OutputClient } from "@drover/output-processor/client";
import { READ_TOKEN, readLog, tokenFor, type Started } from "./helpers/env.js";
import { processorFixture, type Watcher } from "./helpers/watcher.js";

// 100-byte lines numbered from `from`.
const lines = (from: number, to: number): string[] => {
  const out: string[] = [];
  for (let i = from; i < to; i++)
    out.push(`line ${String(i).padStart(8, "0")} ${"y".repeat(85)}\n`);
  return out;
};

async function get(
  port: number,
  taskId: string,
  query: string,
): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(`http://127.0.0.1:${port}/output/v1/tasks/${taskId}/log${query}`, {
    headers: { authorization: `Bearer ${READ_TOKEN}` },
  });
  return { status: res.status, body: await res.text(), headers: res.headers };
}

describe("tail of a log (HTTP and Pusher)", () => {
  const fx = processorFixture();
  const start = (): Promise<Started> => fx.start();
  const watcher = (port: number, tail?: unknown): Watcher =>
    fx.watcher(port, tail === undefined ? {} : { tail });
  /** A finished task: a step header, `all` as output frames of a few lines each, the ends. */
  async function finishedTask(s: Started, jobId: string, all: string[]): Promise<string> {
    const taskId = `t-${randomUUID()}`;
    const c = new OutputClient({ url: s.url, token: tokenFor(taskId, jobId), taskId });
    await c.connect();
    c.stepStarted(0, "Build");
    for (let i = 0; i < all.length; i += 4) {
      c.write(0, "out", all.slice(i, i + 4).join(""));
      if (i % 4000 === 0) await c.flush();
    }
    c.stepFinished(0, 0, "success");
    c.taskFinished("success");
    await c.close();
    return taskId;
  }

  it("GET ?tail=N returns about the last N bytes after a marker, as text or JSON lines", async () => {
    const s = await start();
    const all = lines(0, 3000);
    const full = all.join("");
    const taskId = await finishedTask(s, `job-${randomUUID()}`, all);
    expect(await readLog(s.port, taskId)).toBe(full);

    const text = await get(s.port, taskId, "?tail=1000");
    expect(text.status).toBe(200);
    const m =
      /^\[drover: ([\d,]+) bytes of earlier output \(frames 1-(\d+)\) not shown[^\n]*\n/.exec(
        text.body,
      );
    expect(m).not.toBeNull();
    const [marker, skippedBytes, toSeq] = m as unknown as [string, string, string];
    const rest = text.body.slice(marker.length);
    // From the start of the frame holding the 1,000th byte from the end (frames are batched
    // by the client, up to 256 KiB each).
    const cut = Number(skippedBytes.replace(/,/g, ""));
    expect(cut).toBeGreaterThan(0);
    expect(rest).toBe(full.slice(cut));
    expect(rest.length).toBeGreaterThanOrEqual(1000);
    expect(rest.length).toBeLessThan(1000 + 256 * 1024);
    expect(text.headers.get("x-drover-tail-from-seq")).toBe(String(Number(toSeq) + 1));

    const jsonl = await get(s.port, taskId, "?tail=1000&format=jsonl");
    expect(jsonl.status).toBe(200);
    const entries = jsonl.body
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { kind: string; seq: number; toSeq?: number; data?: string });
    expect(entries[0]).toEqual({
      kind: "skipped",
      seq: 1,
      toSeq: Number(toSeq),
      textBytes: cut,
    });
    expect(entries.slice(1).map((e) => e.seq)).toEqual(
      entries.slice(1).map((_, i) => Number(toSeq) + 1 + i),
    );
    expect(
      entries
        .slice(1)
        .map((e) => e.data ?? "")
        .join(""),
    ).toBe(rest);
    expect(entries.at(-1)?.kind).toBe("task_finished");

    // A tail longer than the log is the whole log, without a marker.
    expect((await get(s.port, taskId, "?tail=10000000")).body).toBe(full);
    const whole = await get(s.port, taskId, `?tail=${full.length}&format=jsonl`);
    expect(JSON.parse(whole.body.split("\n")[0] as string)).toMatchObject({
      kind: "step_started",
      seq: 1,
    });
  });

  it.each([
    ["?tail=0", /tail must be between 1 and 67108864/],
    ["?tail=67108865", /tail must be between 1 and 67108864/],
    ["?tail=-5", /'tail' must be a non-negative integer/],
    ["?tail=2k", /'tail' must be a non-negative integer/],
    ["?tail=100&from=3", /tail cannot be combined with from$/],
    ["?tail=100&fromByte=1&toByte=9", /tail cannot be combined with fromByte, toByte/],
    ["?tail=100&to=9&format=jsonl", /tail cannot be combined with to$/],
  ])("GET %s is a 400 saying what is wrong", async (query, message) => {
    const s = await start();
    const taskId = await finishedTask(s, `job-${randomUUID()}`, lines(0, 10));
    const r = await get(s.port, taskId, query);
    expect(r.status).toBe(400);
    const body = JSON.parse(r.body) as { code: string; message: string };
    expect(body.code).toBe("DROVER_ERR_OUTPUT_QUERY");
    expect(body.message).toMatch(message);
  });

  it("a pusher-js subscriber with tail gets only the tail of a finished 5+ MB log", async () => {
    const s = await start();
    const jobId = `job-${randomUUID()}`;
    const all = lines(0, 56_000); // 5.6 MB
    const full = all.join("");
    const big = await finishedTask(s, jobId, all);
    const small = await finishedTask(s, jobId, lines(0, 8));
    const tail = 256 * 1024;

    const w = watcher(s.port, tail);
    w.watchJob(jobId);
    await vi.waitFor(() => expect(w.kinds.filter((k) => k === "task_finished")).toHaveLength(2), {
      timeout: 20_000,
    });
    expect(w.errors).toEqual([]);
    // Only the big task left output out; one marker, first, from seq 1.
    expect(w.skipped.map((x) => x.task)).toEqual([big]);
    const sk = w.skipped[0] as { seq: number; toSeq: number; textBytes: number };
    expect(sk.seq).toBe(1);
    const got = w.text.get(big) ?? "";
    expect(got).toBe(full.slice(sk.textBytes));
    // At least the tail, less than one more frame (the client's frames are up to 256 KiB).
    expect(got.length).toBeGreaterThanOrEqual(tail);
    expect(got.length).toBeLessThan(tail + 256 * 1024);
    expect(w.text.get(small)).toBe(lines(0, 8).join(""));
    // The same cut as the HTTP route's.
    expect((await get(s.port, big, `?tail=${tail}`)).body.endsWith(got)).toBe(true);
    expect((await get(s.port, big, `?tail=${tail}`)).headers.get("x-drover-tail-from-seq")).toBe(
      String(sk.toSeq + 1),
    );

    // `since` wins over `tail`: since 0 is everything.
    const all0 = watcher(s.port, 1024);
    all0.last.set(big, 0);
    all0.watchJob(jobId);
    await vi.waitFor(
      () => expect(all0.kinds.filter((k) => k === "task_finished")).toHaveLength(2),
      { timeout: 30_000 },
    );
    expect(all0.errors).toEqual([]);
    // The small task fits in the 1 KiB tail: no marker for it either.
    expect(all0.skipped).toEqual([]);
    expect(all0.text.get(big)).toBe(full);
  });

  it("a tail subscription to a running task hands over to live with no gap or duplicate", async () => {
    const s = await start();
    const jobId = `job-${randomUUID()}`;
    const taskId = `t-${randomUUID()}`;
    const c = new OutputClient({ url: s.url, token: tokenFor(taskId, jobId), taskId });
    await c.connect();
    c.stepStarted(0, "Test");
    const all = lines(0, 30_000);
    for (const l of all.slice(0, 10_000)) c.write(0, "out", l);
    await c.flush();

    const w = watcher(s.port, 64 * 1024);
    w.watchJob(jobId);
    // Keep printing while the subscriber reads its tail: the hand-over happens mid-stream.
    for (let i = 10_000; i < 30_000; i++) {
      c.write(0, "out", all[i] as string);
      if (i % 100 === 0) await new Promise((r) => setImmediate(r));
    }
    c.stepFinished(0, 1, "failed");
    c.taskFinished("failed");
    await c.close();
    await vi.waitFor(() => expect(w.kinds).toContain("task_finished"), { timeout: 20_000 });
    expect(w.errors).toEqual([]);
    expect(w.skipped.length).toBe(1);
    const sk = w.skipped[0] as { textBytes: number };
    const full = all.join("");
    expect(sk.textBytes).toBeGreaterThan(0);
    // Everything after the cut, each byte once: tail history then live.
    expect(w.text.get(taskId)).toBe(full.slice(sk.textBytes));
    expect(w.caughtUp.map((x) => x.task)).toContain(taskId);
    expect(await readLog(s.port, taskId)).toBe(full);
  });

  it.each([[-1], [1.5], ["big"], [2 ** 40]])(
    "refuses channel_data tail %j with a subscription error",
    async (tail) => {
      const s = await start();
      const w = watcher(s.port, tail);
      w.watchJob(`job-${randomUUID()}`);
      await vi.waitFor(() => expect(w.subscriptionErrors.length).toBeGreaterThan(0), {
        timeout: 5_000,
      });
      expect(w.subscribed).toBe(false);
      const err = w.subscriptionErrors[0] as { status: number; error: string };
      expect(err.status).toBe(400);
      expect(err.error).toMatch(/channel_data.tail must be an integer from 0 to 67108864/);
    },
  );
});
