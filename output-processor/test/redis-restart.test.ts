import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { OutputClient } from "@drover/output-processor/client";
import {
  readLog,
  startProcessor,
  tempDir,
  tokenFor,
  uniquePrefix,
  type Started,
} from "./helpers/env.js";
import { freePort, kill9 } from "./helpers/child.js";
import { Watcher } from "./helpers/watcher.js";

/** A private redis-server on a free loopback port, without persistence, so it can be killed. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    {
      stdio: ["ignore", "pipe", "inherit"],
    },
  );
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("Ready to accept connections")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`redis-server exited with ${code}`)));
  });
  return child;
}

describe("Redis restarted mid-stream", () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  let redis: ChildProcess | null = null;
  const started: Started[] = [];
  const watchers: Watcher[] = [];
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    for (const w of watchers.splice(0)) w.close();
    for (const s of started.splice(0)) await s.op.close();
    if (redis && redis.exitCode === null && redis.signalCode === null) await kill9(redis);
    await dir.cleanup();
  });

  it("subscribers on another instance recover through history; the log is exact", async () => {
    const redisPort = await freePort();
    redis = await startRedis(redisPort);
    const shared = { redisUrl: `redis://127.0.0.1:${redisPort}`, channelPrefix: uniquePrefix() };
    const a = await startProcessor({ dataDir: dir.dir, ...shared });
    const b = await startProcessor({ dataDir: dir.dir, ...shared });
    started.push(a, b);
    const jobId = `job-${randomUUID()}`;
    const taskId = `t-${randomUUID()}`;
    const w = new Watcher(b.port);
    watchers.push(w);
    w.watchJob(jobId);
    await vi.waitFor(() => expect(w.subscribed, "subscribed").toBe(true), { timeout: 5_000 });
    const c = new OutputClient({ url: a.url, token: tokenFor(taskId, jobId), taskId });
    await c.connect();
    let expected = "";
    for (let i = 0; i < 3000; i++) {
      const line = `line ${i}\n`;
      expected += line;
      c.write(0, "out", line);
      if (i % 100 === 0) await new Promise((r) => setTimeout(r, 2));
      if (i === 1000) {
        await kill9(redis);
        await new Promise((r) => setTimeout(r, 300));
        redis = await startRedis(redisPort);
      }
    }
    c.taskFinished("success");
    await c.close();
    await vi.waitFor(() => expect(w.kinds).toContain("task_finished"), { timeout: 20_000 });
    expect(w.errors).toEqual([]);
    expect(w.text.get(taskId)).toBe(expected);
    expect(await readLog(a.port, taskId)).toBe(expected);
  });
});
