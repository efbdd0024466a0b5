import { randomUUID } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { PUSHER_CLOSE, signChannelAuth } from "@drover/output-processor";
import { OutputClient } from "@drover/output-processor/client";
import { APP_KEY, APP_SECRET, REDIS_URL, readLog, tokenFor, uniquePrefix } from "./helpers/env.js";
import { processorFixture } from "./helpers/watcher.js";

const lines = (from: number, to: number, tag = ""): string[] => {
  const out: string[] = [];
  for (let i = from; i < to; i++) out.push(`${tag}line ${i} \u001b[1mbold\u001b[0m\n`);
  return out;
};

describe("pusher protocol for browsers", () => {
  const { start, watcher } = processorFixture();

  it("pusher-js subscribes, is authorized, gets history then live with no gap or duplicate", async () => {
    const s = await start();
    const jobId = `job-${randomUUID()}`;
    const taskId = `t-${randomUUID()}`;
    const c = new OutputClient({ url: s.url, token: tokenFor(taskId, jobId), taskId });
    await c.connect();
    c.stepStarted(0, "Build");
    const all = lines(0, 2000);
    for (const l of all.slice(0, 1000)) c.write(0, "out", l);
    await c.flush();

    const w = watcher(s.port);
    w.watchJob(jobId);
    // Keep printing while the subscriber catches up: the hand-over happens mid-stream.
    for (let i = 1000; i < 2000; i++) {
      c.write(0, "out", all[i] as string);
      if (i % 50 === 0) await new Promise((r) => setImmediate(r));
    }
    c.stepFinished(0, 0, "success");
    c.taskFinished("success");
    await c.close();
    await vi.waitFor(() => expect(w.kinds).toContain("task_finished"), { timeout: 15_000 });
    expect(w.subscribed).toBe(true);
    expect(w.errors).toEqual([]);
    expect(w.text.get(taskId)).toBe(all.join(""));
    expect(w.kinds[0]).toBe("step_started");
    expect(w.caughtUp.length).toBeGreaterThan(0);
    expect(w.caughtUp[0]?.task).toBe(taskId);
  });

  it("stops sending a channel's events after pusher:unsubscribe", async () => {
    const s = await start();
    const jobId = `job-${randomUUID()}`;
    const taskId = `t-${randomUUID()}`;
    const channel = `private-job-${jobId}`;
    // A raw client: pusher-js would drop events of an unsubscribed channel itself.
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/app/${APP_KEY}?protocol=7`);
    const msgs: Array<{ event: string; data: string }> = [];
    ws.on("message", (d) => msgs.push(JSON.parse(d.toString())));
    await vi.waitFor(() => expect(msgs).toHaveLength(1), { timeout: 5_000 });
    const { socket_id } = JSON.parse(msgs[0]?.data as string) as { socket_id: string };
    const auth = signChannelAuth(APP_KEY, APP_SECRET, socket_id, channel);
    ws.send(JSON.stringify({ event: "pusher:subscribe", data: { channel, auth } }));
    await vi.waitFor(
      () => expect(msgs.map((m) => m.event)).toContain("pusher_internal:subscription_succeeded"),
      { timeout: 5_000 },
    );
    const c = new OutputClient({ url: s.url, token: tokenFor(taskId, jobId), taskId });
    await c.connect();
    c.write(0, "out", "first\n");
    await c.flush();
    await vi.waitFor(() => expect(msgs.map((m) => m.event)).toContain("log"), { timeout: 5_000 });
    ws.send(JSON.stringify({ event: "pusher:unsubscribe", data: { channel } }));
    await new Promise((r) => setTimeout(r, 100));
    const before = msgs.length;
    c.write(0, "out", "second\n");
    await c.close();
    await new Promise((r) => setTimeout(r, 300));
    expect(msgs.slice(before)).toEqual([]);
    ws.close();
  });

  it("refuses a subscription with a bad signature", async () => {
    const s = await start();
    const w = watcher(s.port, { authorize: false });
    w.watchJob("job-x");
    await vi.waitFor(() => expect(w.subscriptionErrors.length).toBeGreaterThan(0), {
      timeout: 5_000,
    });
    expect(w.subscribed).toBe(false);
    expect(w.closeCodes).toContain(PUSHER_CLOSE.unauthorized);
  });

  it.each([
    ["as a JSON object by default (pusher-js parses the frame once)", false],
    ["as a JSON string with stringData (strict Pusher clients)", true],
  ])("sends log events' data %s", async (_name, stringData) => {
    const s = await start({ pusher: { appKey: APP_KEY, appSecret: APP_SECRET, stringData } });
    const jobId = `job-${randomUUID()}`;
    const taskId = `t-${randomUUID()}`;
    const channel = `private-job-${jobId}`;
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/app/${APP_KEY}?protocol=7`);
    const msgs: Array<{ event: string; channel?: string; data: unknown }> = [];
    ws.on("message", (d) => msgs.push(JSON.parse(d.toString())));
    await vi.waitFor(() => expect(msgs).toHaveLength(1), { timeout: 5_000 });
    // Pusher's own events keep the string form either way.
    expect(typeof msgs[0]?.data).toBe("string");
    const { socket_id } = JSON.parse(msgs[0]?.data as string) as { socket_id: string };
    const auth = signChannelAuth(APP_KEY, APP_SECRET, socket_id, channel);
    ws.send(JSON.stringify({ event: "pusher:subscribe", data: { channel, auth } }));
    await vi.waitFor(
      () => expect(msgs.map((m) => m.event)).toContain("pusher_internal:subscription_succeeded"),
      { timeout: 5_000 },
    );
    const c = new OutputClient({ url: s.url, token: tokenFor(taskId, jobId), taskId });
    await c.connect();
    c.write(0, "out", 'one "quoted" line\n');
    await c.flush();
    await vi.waitFor(() => expect(msgs.map((m) => m.event)).toContain("log"), { timeout: 5_000 });
    const log = msgs.find((m) => m.event === "log")!;
    expect(log.channel).toBe(channel);
    expect(typeof log.data).toBe(stringData ? "string" : "object");
    const data = (stringData ? JSON.parse(log.data as string) : log.data) as {
      task: string;
      from: number;
      to: number;
      entries: Array<{ seq: number; data: string }>;
    };
    expect(data.task).toBe(taskId);
    expect(data.entries.map((e) => e.data)).toEqual(['one "quoted" line\n']);
    expect([data.from, data.to]).toEqual([1, 1]);
    await c.close();
    ws.close();
  });

  it("answers pings and rejects a wrong app key with 4001", async () => {
    const s = await start();
    const ws = new WebSocket(`ws://127.0.0.1:${s.port}/app/${APP_KEY}?protocol=7`);
    const msgs: Array<{ event: string; data: string }> = [];
    ws.on("message", (d) => msgs.push(JSON.parse(d.toString())));
    await vi.waitFor(() => expect(msgs).toHaveLength(1), { timeout: 5_000 });
    expect(msgs[0]?.event).toBe("pusher:connection_established");
    const est = JSON.parse(msgs[0]?.data as string) as {
      socket_id: string;
      activity_timeout: number;
    };
    expect(est.socket_id).toMatch(/^\d+\.\d+$/);
    expect(est.activity_timeout).toBe(120);
    ws.send(JSON.stringify({ event: "pusher:ping", data: {} }));
    await vi.waitFor(() => expect(msgs).toHaveLength(2), { timeout: 5_000 });
    expect(msgs[1]?.event).toBe("pusher:pong");
    ws.close();
    const bad = new WebSocket(`ws://127.0.0.1:${s.port}/app/wrong-key?protocol=7`);
    const code = await new Promise<number>((r) => bad.once("close", (c) => r(c)));
    expect(code).toBe(PUSHER_CLOSE.appNotFound);
  });

  it("an agent on instance A and a browser on instance B see the same stream (Redis)", async () => {
    const shared = { redisUrl: REDIS_URL, channelPrefix: uniquePrefix() };
    const a = await start(shared);
    const b = await start(shared);
    const jobId = `job-${randomUUID()}`;
    const projectId = `proj-${randomUUID()}`;
    const taskId = `t-${randomUUID()}`;
    const w = watcher(b.port);
    w.watchJob(jobId);
    w.watchProject(projectId);
    await vi.waitFor(() => expect(w.subscribed, "subscribed").toBe(true), { timeout: 5_000 });
    const c = new OutputClient({
      url: a.url,
      token: tokenFor(taskId, jobId, projectId),
      taskId,
    });
    await c.connect();
    c.stepStarted(0, "Test");
    const all = lines(0, 3000, "B ");
    for (const l of all) c.write(0, "out", l);
    c.stepFinished(0, 1, "failed");
    c.taskFinished("failed");
    await c.close();
    await vi.waitFor(() => expect(w.kinds).toContain("task_finished"), { timeout: 15_000 });
    expect(w.errors).toEqual([]);
    expect(w.text.get(taskId)).toBe(all.join(""));
    await vi.waitFor(() => expect(w.status).toHaveLength(3), { timeout: 5_000 });
    expect(w.status.map((m) => (m as { kind: string }).kind)).toEqual([
      "step_started",
      "step_finished",
      "task_finished",
    ]);
    // A late subscriber on B (history from the shared store) then equals the log on A.
    const late = watcher(b.port);
    late.watchJob(jobId);
    await vi.waitFor(() => expect(late.kinds).toContain("task_finished"), { timeout: 10_000 });
    expect(late.text.get(taskId)).toBe(await readLog(a.port, taskId));
    expect(late.errors).toEqual([]);
  });

  it("closes a slow consumer with a resume code; others and ingest keep full speed", async () => {
    const s = await start({
      pusher: { appKey: APP_KEY, appSecret: APP_SECRET, maxBufferedBytes: 256 * 1024 },
    });
    const jobId = `job-${randomUUID()}`;
    const taskId = `t-${randomUUID()}`;

    // The slow client speaks the protocol by hand and then stops reading its socket.
    const slow = new WebSocket(`ws://127.0.0.1:${s.port}/app/${APP_KEY}?protocol=7`);
    const slowMsgs: string[] = [];
    slow.on("message", (d) => slowMsgs.push(d.toString()));
    await vi.waitFor(() => expect(slowMsgs).toHaveLength(1), { timeout: 5_000 });
    const socketId = (
      JSON.parse((JSON.parse(slowMsgs[0] as string) as { data: string }).data) as {
        socket_id: string;
      }
    ).socket_id;
    const channel = `private-job-${jobId}`;
    slow.send(
      JSON.stringify({
        event: "pusher:subscribe",
        data: { channel, auth: signChannelAuth(APP_KEY, APP_SECRET, socketId, channel) },
      }),
    );
    await vi.waitFor(() => expect(slowMsgs).toHaveLength(2), { timeout: 5_000 });
    const slowClosed = new Promise<number>((r) => slow.once("close", (c) => r(c)));
    const raw = (slow as unknown as { _socket: { pause(): void; resume(): void } })._socket;
    raw.pause();

    const fast = watcher(s.port);
    fast.watchJob(jobId);
    await vi.waitFor(() => expect(fast.subscribed, "fast subscribed").toBe(true), {
      timeout: 5_000,
    });

    const c = new OutputClient({ url: s.url, token: tokenFor(taskId, jobId), taskId });
    await c.connect();
    const chunk = `${"x".repeat(1000)}\n`;
    // Ingest finishes while the slow client reads nothing: it never waits for a browser.
    for (let i = 0; i < 30_000; i++) c.write(0, "out", chunk);
    c.taskFinished("success");
    await c.close();
    // Reading again, it finds the close frame behind what the server had queued for it.
    raw.resume();
    expect(await slowClosed).toBe(PUSHER_CLOSE.slowConsumer);
    await vi.waitFor(() => expect(fast.kinds).toContain("task_finished"), { timeout: 30_000 });
    expect(fast.errors).toEqual([]);
    expect(fast.closeCodes).toEqual([]);
    expect(fast.text.get(taskId)?.length).toBe(30_000 * chunk.length);

    // The slow client resumes from a seq through pusher-js: no gap, no duplicate.
    const lastSeq = fast.last.get(taskId) as number;
    const from = Math.floor(lastSeq / 2);
    const resumed = watcher(s.port);
    resumed.last.set(taskId, from);
    resumed.watchJob(jobId);
    await vi.waitFor(() => expect(resumed.kinds).toContain("task_finished"), { timeout: 30_000 });
    expect(resumed.errors).toEqual([]);
    const got = resumed.text.get(taskId) ?? "";
    expect(got.length).toBeGreaterThan(0);
    expect(got.length).toBeLessThan(30_000 * chunk.length);
    expect(fast.text.get(taskId)?.endsWith(got)).toBe(true);
  });
});
