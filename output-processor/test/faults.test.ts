import type { ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { afterEach, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { OutputClient } from "@drover/output-processor/client";
import { REDIS_URL, assertRedis, readLog, tempDir, tokenFor, uniquePrefix } from "./helpers/env.js";
import { buildOnce, freePort, kill9, peakRss, startChild } from "./helpers/child.js";

describe("faults against a real output-processor process", () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  const children: ChildProcess[] = [];
  beforeAll(async () => {
    await assertRedis();
    await buildOnce();
  }, 120_000);
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    for (const c of children.splice(0))
      if (c.exitCode === null && c.signalCode === null) await kill9(c);
    await dir.cleanup();
  });

  it("kill -9 mid-stream: the agent reconnects to the restarted one; the log is exact", async () => {
    const port = await freePort();
    const env = {
      DROVER_OUTPUT_PORT: String(port),
      DROVER_OUTPUT_DIR: dir.dir,
      REDIS_URL,
      DROVER_OUTPUT_CHANNEL_PREFIX: uniquePrefix(),
      DROVER_OUTPUT_CHUNK_BYTES: "65536",
    };
    let child = await startChild(env);
    children.push(child);
    const taskId = `t-${randomUUID()}`;
    const c = new OutputClient({
      url: `ws://127.0.0.1:${port}`,
      token: tokenFor(taskId, "job-k"),
      taskId,
    });
    await c.connect();
    let expected = "";
    let killed = false;
    let restarted = false;
    const ackedAtKill: number[] = [];
    c.stepStarted(0, "Run");
    for (let i = 0; i < 20_000; i++) {
      const line = `${i} ${"y".repeat(i % 97)}\n`;
      expected += line;
      c.write(0, i % 5 === 0 ? "err" : "out", line);
      if (i % 200 === 0) await new Promise((r) => setTimeout(r, 1));
      if (i === 6_000) {
        ackedAtKill.push(c.acknowledged);
        await kill9(child);
        killed = true;
      }
      if (i === 9_000) {
        child = await startChild(env);
        children.push(child);
        restarted = true;
      }
    }
    c.stepFinished(0, 0, "success");
    c.taskFinished("success");
    await c.flush();
    await c.close();
    expect(killed && restarted).toBe(true);
    expect(ackedAtKill[0]).toBeGreaterThan(0);
    expect(await readLog(port, taskId)).toBe(expected);
    const seqs = (await readLog(port, taskId, "?format=jsonl"))
      .trim()
      .split("\n")
      .map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it("streams a large log with bounded memory, keeping head and tail", async () => {
    const port = await freePort();
    const child = await startChild({
      DROVER_OUTPUT_PORT: String(port),
      DROVER_OUTPUT_DIR: dir.dir,
      DROVER_OUTPUT_MAX_TASK_BYTES: String(32 * 1024 * 1024),
      // A heap cap far below the log size: unbounded buffering would crash the process.
      NODE_OPTIONS: "--max-old-space-size=128",
    });
    children.push(child);
    const rssBefore = await peakRss(child.pid as number);
    const taskId = `t-${randomUUID()}`;
    const c = new OutputClient({
      url: `ws://127.0.0.1:${port}`,
      token: tokenFor(taskId, "job-big"),
      taskId,
    });
    await c.connect();
    const total = Number(process.env.DROVER_TEST_LARGE_MIB ?? 256) * 1024 * 1024;
    const line = `${"z".repeat(199)}\n`;
    const block = line.repeat(5 * 1024); // 1 MiB
    const t0 = Date.now();
    c.write(0, "out", "HEAD-MARKER\n");
    for (let sent = 0; sent < total; sent += block.length) {
      c.write(0, "out", block);
      if ((sent / block.length) % 8 === 7) await c.flush();
    }
    c.write(0, "out", "TAIL-MARKER\n");
    c.taskFinished("success");
    await c.close();
    const seconds = (Date.now() - t0) / 1000;
    const peak = await peakRss(child.pid as number);
    const t1 = Date.now();
    const text = await readLog(port, taskId);
    const readSeconds = (Date.now() - t1) / 1000;
    process.stdout.write(
      `large log: ${total / 2 ** 20} MiB in ${seconds.toFixed(1)} s (${(total / 2 ** 20 / seconds).toFixed(0)} MiB/s); ` +
        `output-processor peak RSS ${(peak / 2 ** 20).toFixed(0)} MiB (at start ${(rssBefore / 2 ** 20).toFixed(0)} MiB); ` +
        `stored text ${(text.length / 2 ** 20).toFixed(1)} MiB read back in ${readSeconds.toFixed(1)} s\n`,
    );
    expect(text.startsWith("HEAD-MARKER\n")).toBe(true);
    expect(text.endsWith("TAIL-MARKER\n")).toBe(true);
    expect(text).toMatch(/\[drover: [\d,]+ bytes of output \(frames \d+-\d+\) dropped here/);
    expect(text.length).toBeLessThan(40 * 1024 * 1024);
    expect(peak).toBeLessThan(320 * 1024 * 1024);
  }, 240_000); // a loaded 2-core host needs more than the default minute
});
