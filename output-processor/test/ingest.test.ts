import { randomUUID } from "node:crypto";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import type { AddressInfo } from "node:net";
import WebSocket, { WebSocketServer } from "ws";
import { INGEST_CLOSE, INGEST_PATH, MAX_MESSAGE_BYTES } from "@drover/output-processor";
import { OutputClient } from "@drover/output-processor/client";
import {
  READ_TOKEN,
  readLog,
  startProcessor,
  tempDir,
  tokenFor,
  type Started,
} from "./helpers/env.js";

function rawSocket(s: Started): Promise<WebSocket> {
  const ws = new WebSocket(`${s.url}${INGEST_PATH}`);
  return new Promise((resolve, reject) => {
    ws.once("open", () => resolve(ws));
    ws.once("error", reject);
  });
}

function closeCode(ws: WebSocket): Promise<number> {
  return new Promise((resolve) => ws.once("close", (code) => resolve(code)));
}

function nextMessage(ws: WebSocket): Promise<{ type: string; seq?: number; lastSeq?: number }> {
  return new Promise((resolve) => ws.once("message", (d) => resolve(JSON.parse(d.toString()))));
}

async function hello(s: Started, taskId: string, jobId = "job-1"): Promise<WebSocket> {
  const ws = await rawSocket(s);
  const welcome = nextMessage(ws);
  ws.send(
    JSON.stringify({ type: "hello", protocol: 1, token: tokenFor(taskId, jobId), task: taskId }),
  );
  expect((await welcome).type).toBe("welcome");
  return ws;
}

function out(seq: number, data: string, step = 0) {
  return { kind: "output", seq, ts: Date.now(), step, stream: "out", data };
}

describe("ingest", () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  let s: Started;
  beforeEach(async () => {
    dir = await tempDir();
    s = await startProcessor({ dataDir: dir.dir });
  });
  afterEach(async () => {
    await s.op.close();
    await dir.cleanup();
  });

  it("stores what the client sends, in order, and acknowledges it", async () => {
    const taskId = `t-${randomUUID()}`;
    const c = new OutputClient({ url: s.url, token: tokenFor(taskId, "job-1"), taskId });
    await c.connect();
    c.stepStarted(0, "Checkout");
    let expected = "";
    for (let i = 0; i < 500; i++) {
      const line = `line ${i} \u001b[32mgreen\u001b[0m é😀\n`;
      expected += line;
      c.write(0, i % 7 === 0 ? "err" : "out", line);
    }
    // A multi-byte character split across two byte writes comes out whole.
    const bytes = Buffer.from("split 😀 here\n");
    c.write(0, "out", bytes.subarray(0, 8));
    c.write(0, "out", bytes.subarray(8));
    expected += "split 😀 here\n";
    c.stepFinished(0, 0, "success");
    c.taskFinished("success");
    await c.flush();
    await c.close();
    expect(await readLog(s.port, taskId)).toBe(expected);
    const jsonl = (await readLog(s.port, taskId, "?format=jsonl")).trim().split("\n");
    const kinds = jsonl.map((l) => (JSON.parse(l) as { kind: string }).kind);
    expect(kinds[0]).toBe("step_started");
    expect(kinds.slice(-2)).toEqual(["step_finished", "task_finished"]);
    const seqs = jsonl.map((l) => (JSON.parse(l) as { seq: number }).seq);
    expect(seqs).toEqual(seqs.map((_, i) => i + 1));
  });

  it("serves seq and byte ranges, checks readers and says what is wrong with a query", async () => {
    const taskId = `t-${randomUUID()}`;
    const c = new OutputClient({ url: s.url, token: tokenFor(taskId, "job-1"), taskId });
    await c.connect();
    for (let i = 1; i <= 5; i++) {
      c.write(0, "out", `l${i}\n`);
      await c.flush(); // one frame per line: seqs 1..5
    }
    await c.close();
    expect(await readLog(s.port, taskId, "?from=2&to=4")).toBe("l2\nl3\n");
    expect(await readLog(s.port, taskId, "?fromByte=3&toByte=9")).toBe("l2\nl3\n");
    const base = `http://127.0.0.1:${s.port}/output/v1/tasks/${taskId}`;
    expect((await fetch(`${base}/log`)).status).toBe(404); // no reader credentials
    expect(
      (await fetch(`${base}/log`, { headers: { authorization: "Bearer wrong" } })).status,
    ).toBe(404);
    const auth = { headers: { authorization: `Bearer ${READ_TOKEN}` } };
    const bad = await fetch(`${base}/log?from=abc`, auth);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { message: string }).message).toMatch(/'from'/);
    expect((await fetch(`${base}/log?format=xml`, auth)).status).toBe(400);
    const raw = await fetch(`${base}/raw`, auth);
    expect(raw.headers.get("content-disposition")).toMatch(/attachment/);
    expect(await raw.text()).toBe("l1\nl2\nl3\nl4\nl5\n");
  });

  it("dedupes resent frames on (task, seq) and acknowledges them", async () => {
    const taskId = `t-${randomUUID()}`;
    const ws = await hello(s, taskId);
    ws.send(
      JSON.stringify({ type: "frames", task: taskId, frames: [out(1, "a\n"), out(2, "b\n")] }),
    );
    expect(await nextMessage(ws)).toEqual({ type: "ack", seq: 2 });
    // A resend overlapping what is stored: only seq 3 is new.
    ws.send(
      JSON.stringify({
        type: "frames",
        task: taskId,
        frames: [out(1, "a\n"), out(2, "b\n"), out(3, "c\n")],
      }),
    );
    expect(await nextMessage(ws)).toEqual({ type: "ack", seq: 3 });
    ws.close();
    // Reconnect: the welcome says what is stored; a full resend changes nothing.
    const ws2 = await rawSocket(s);
    const welcome = nextMessage(ws2);
    ws2.send(
      JSON.stringify({
        type: "hello",
        protocol: 1,
        token: tokenFor(taskId, "job-1"),
        task: taskId,
      }),
    );
    expect(await welcome).toEqual({ type: "welcome", lastSeq: 3 });
    ws2.send(
      JSON.stringify({
        type: "frames",
        task: taskId,
        frames: [out(1, "a\n"), out(2, "b\n"), out(3, "c\n")],
      }),
    );
    expect(await nextMessage(ws2)).toEqual({ type: "ack", seq: 3 });
    ws2.close();
    expect(await readLog(s.port, taskId)).toBe("a\nb\nc\n");
  });

  it("rejects a wrong token, malformed and oversized frames with codes, leaving others alone", async () => {
    const good = `t-${randomUUID()}`;
    const c = new OutputClient({ url: s.url, token: tokenFor(good, "job-1"), taskId: good });
    await c.connect();
    c.write(0, "out", "before\n");
    await c.flush();

    // Wrong token (signed with another secret) and a token for another task.
    const bad = await rawSocket(s);
    const badClosed = closeCode(bad);
    bad.send(JSON.stringify({ type: "hello", protocol: 1, token: "dov1.e30.AAAA", task: "x" }));
    expect(await badClosed).toBe(INGEST_CLOSE.unauthorized);
    const other = await rawSocket(s);
    const otherClosed = closeCode(other);
    other.send(
      JSON.stringify({ type: "hello", protocol: 1, token: tokenFor("t-other", "j"), task: good }),
    );
    expect(await otherClosed).toBe(INGEST_CLOSE.wrongTask);

    // The client API refuses too (and does not retry).
    const refused = new OutputClient({ url: s.url, token: "nope", taskId: "t-x" });
    await expect(refused.connect()).rejects.toThrow(/4401/);

    // Malformed: not JSON; then a schema violation naming the field.
    const m1 = await hello(s, `t-${randomUUID()}`);
    const m1Closed = closeCode(m1);
    m1.send("{not json");
    expect(await m1Closed).toBe(INGEST_CLOSE.malformed);
    const t2 = `t-${randomUUID()}`;
    const m2 = await hello(s, t2);
    const m2Closed = new Promise<[number, string]>((r) =>
      m2.once("close", (c2, why) => r([c2, why.toString()])),
    );
    m2.send(
      JSON.stringify({
        type: "frames",
        task: t2,
        frames: [{ kind: "output", seq: 1, ts: 1, step: 0, stream: "bogus", data: "" }],
      }),
    );
    const [code2, why2] = await m2Closed;
    expect(code2).toBe(INGEST_CLOSE.malformed);
    expect(why2).toMatch(/frames\.0\.stream/);

    // Oversized: one message over the limit.
    const t3 = `t-${randomUUID()}`;
    const big = await hello(s, t3);
    const bigClosed = closeCode(big);
    big.send(
      JSON.stringify({ type: "frames", task: t3, frames: [out(1, "x".repeat(MAX_MESSAGE_BYTES))] }),
    );
    expect(await bigClosed).toBe(INGEST_CLOSE.frameTooLarge);

    // A gap in sequence numbers.
    const t4 = `t-${randomUUID()}`;
    const gap = await hello(s, t4);
    const gapClosed = closeCode(gap);
    gap.send(JSON.stringify({ type: "frames", task: t4, frames: [out(2, "skipped one\n")] }));
    expect(await gapClosed).toBe(INGEST_CLOSE.sequenceGap);

    // The first client kept working throughout.
    c.write(0, "out", "after\n");
    await c.flush();
    await c.close();
    expect(await readLog(s.port, good)).toBe("before\nafter\n");
  });

  it("refuses a task's token once its task finished, with a code saying so", async () => {
    const taskId = `t-${randomUUID()}`;
    const c = new OutputClient({ url: s.url, token: tokenFor(taskId, "job-1"), taskId });
    await c.connect();
    c.write(0, "out", "done\n");
    c.taskFinished("success");
    await c.close();

    // The same token on a new connection: refused as finished, not as a bad token.
    const again = await rawSocket(s);
    const closed = new Promise<[number, string]>((r) =>
      again.once("close", (code, why) => r([code, why.toString()])),
    );
    again.send(
      JSON.stringify({
        type: "hello",
        protocol: 1,
        token: tokenFor(taskId, "job-1"),
        task: taskId,
      }),
    );
    const [code, why] = await closed;
    expect(code).toBe(INGEST_CLOSE.taskFinished);
    expect(why).toMatch(/task finished/);
    // A client that never sent the end is told why, and does not retry.
    const late = new OutputClient({ url: s.url, token: tokenFor(taskId, "job-1"), taskId });
    await expect(late.connect()).rejects.toMatchObject({
      code: "DROVER_ERR_OUTPUT_TASK_FINISHED",
    });

    // On a live connection nothing after task_finished is stored.
    const t2 = `t-${randomUUID()}`;
    const ws = await hello(s, t2);
    const wsClosed = closeCode(ws);
    const end = { kind: "task_finished", seq: 2, ts: 1, result: "success" };
    ws.send(
      JSON.stringify({ type: "frames", task: t2, frames: [out(1, "a\n"), end, out(3, "b\n")] }),
    );
    expect(await wsClosed).toBe(INGEST_CLOSE.taskFinished);
    expect(await readLog(s.port, t2)).toBe("a\n");
    expect(await readLog(s.port, t2, "?format=jsonl")).toMatch(/"task_finished"/);
  });

  it("a client whose last ack was lost learns from the refusal that everything was stored", async () => {
    // A relay that loses the ack of the message carrying task_finished and drops the connection.
    const relay = new WebSocketServer({ port: 0, host: "127.0.0.1" });
    let lose = true;
    relay.on("connection", (client) => {
      const upstream = new WebSocket(`${s.url}${INGEST_PATH}`);
      const queued: string[] = [];
      let sawEnd = false;
      upstream.on("open", () => queued.splice(0).forEach((m) => upstream.send(m)));
      client.on("message", (d) => {
        const m = d.toString();
        if (m.includes('"task_finished"')) sawEnd = true;
        if (upstream.readyState === WebSocket.OPEN) upstream.send(m);
        else queued.push(m);
      });
      upstream.on("message", (d) => {
        const m = JSON.parse(d.toString()) as { type: string };
        if (lose && sawEnd && m.type === "ack") {
          lose = false;
          client.terminate();
          upstream.close();
          return;
        }
        client.send(d.toString());
      });
      upstream.on("close", (code, why) => {
        if (client.readyState === WebSocket.OPEN) client.close(code, why);
      });
      client.on("close", () => upstream.close());
    });
    await new Promise((r) => relay.once("listening", r));
    try {
      const taskId = `t-${randomUUID()}`;
      const url = `ws://127.0.0.1:${(relay.address() as AddressInfo).port}`;
      const c = new OutputClient({ url, token: tokenFor(taskId, "job-1"), taskId });
      await c.connect();
      c.write(0, "out", "all of it\n");
      c.taskFinished("success");
      await c.flush();
      expect(lose).toBe(false);
      expect(c.acknowledged).toBe(2);
      await c.close();
      expect(await readLog(s.port, taskId)).toBe("all of it\n");
    } finally {
      for (const ws of relay.clients) ws.terminate();
      await new Promise((r) => relay.close(r));
    }
  });

  it("close gives up after timeoutMs when no output-processor answers", async () => {
    const port = s.port;
    await s.op.close();
    const c = new OutputClient({ url: `ws://127.0.0.1:${port}`, token: "t", taskId: "t-gone" });
    void c.connect().catch(() => undefined);
    c.write(0, "out", "nobody hears this\n");
    // Without the timeout this would wait for acknowledgements forever.
    await c.close({ timeoutMs: 300 });
    expect(c.acknowledged).toBe(0);
    s = await startProcessor({ dataDir: dir.dir });
  });

  it("masks the task's secrets even when a value spans two frames", async () => {
    await s.op.close();
    s = await startProcessor({ dataDir: dir.dir }, async () => ["hunter2-secret", "true"]);
    const taskId = `t-${randomUUID()}`;
    const c = new OutputClient({ url: s.url, token: tokenFor(taskId, "job-1"), taskId });
    await c.connect();
    c.write(0, "out", "pass=hunter2");
    await c.flush(); // forces the two halves into separate frames
    c.write(0, "out", "-secret ok true\n");
    c.stepFinished(0, 0, "success");
    c.write(1, "out", "tail hunter2-sec");
    c.stepFinished(1, 1, "failed");
    await c.close();
    const log = await readLog(s.port, taskId);
    expect(log).toBe("pass=**** ok true\ntail hunter2-sec");
    expect(log).not.toContain("hunter2-secret");
  });
});
