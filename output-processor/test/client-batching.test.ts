/** The agent client's adaptive batching and backlog, against a scripted ingest server. */
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { WebSocketServer, type WebSocket } from "ws";
import { OutputClient } from "../src/client/index.js";

interface FramesMessage {
  type: "frames";
  frames: Array<{ seq: number; kind: string; data?: string }>;
}

/** Welcomes the client, records its `frames` messages, acknowledges only when told to. */
async function scriptedServer(): Promise<{
  url: string;
  messages: FramesMessage[];
  ack(seq: number): void;
  close(): Promise<void>;
}> {
  const wss = new WebSocketServer({ port: 0, host: "127.0.0.1" });
  await new Promise((r) => wss.once("listening", r));
  const messages: FramesMessage[] = [];
  let sock: WebSocket | null = null;
  wss.on("connection", (ws) => {
    sock = ws;
    ws.on("message", (d) => {
      const m = JSON.parse(String(d)) as { type: string };
      if (m.type === "hello") ws.send(JSON.stringify({ type: "welcome", lastSeq: 0 }));
      else messages.push(m as FramesMessage);
    });
  });
  return {
    url: `ws://127.0.0.1:${(wss.address() as AddressInfo).port}`,
    messages,
    ack: (seq) => sock?.send(JSON.stringify({ type: "ack", seq })),
    close: () =>
      new Promise((r) => {
        for (const c of wss.clients) c.terminate();
        wss.close(() => r());
      }),
  };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));
const until = async (cond: () => boolean): Promise<void> => {
  for (let i = 0; i < 200 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  expect(cond()).toBe(true);
};

let cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup) await c();
  cleanup = [];
});

describe("OutputClient batching", () => {
  it("sends each write at once while idle, and merges writes while its messages are unacknowledged", async () => {
    const srv = await scriptedServer();
    const client = new OutputClient({
      url: srv.url,
      token: "t",
      taskId: "task",
      maxInflightMessages: 2,
    });
    cleanup.push(async () => void (await client.close({ timeoutMs: 10 })), srv.close);
    await client.connect();
    for (let i = 0; i < 10; i++) {
      client.write(0, "out", `chunk ${i}\n`);
      await turn();
    }
    await until(() => srv.messages.length === 2);
    await new Promise((r) => setTimeout(r, 30));
    expect(srv.messages).toHaveLength(2); // two in flight, the rest waits
    srv.ack(srv.messages[1]!.frames.at(-1)!.seq);
    await until(() => srv.messages.length === 3);
    const third = srv.messages[2]!;
    expect(third.frames).toHaveLength(1); // eight writes, one frame
    const text = srv.messages.flatMap((m) => m.frames.map((f) => f.data ?? "")).join("");
    expect(text).toBe([...Array(10).keys()].map((i) => `chunk ${i}\n`).join(""));
  });

  it("reports its backlog and wakes a producer once acknowledgements bring it down", async () => {
    const srv = await scriptedServer();
    const client = new OutputClient({ url: srv.url, token: "t", taskId: "task" });
    cleanup.push(async () => void (await client.close({ timeoutMs: 10 })), srv.close);
    await client.connect();
    client.write(0, "out", "x".repeat(5000));
    client.write(0, "err", "y".repeat(5000));
    expect(client.backlog).toBeGreaterThanOrEqual(10_000);
    await expect(client.whenBacklogBelow(20_000)).resolves.toBeUndefined();
    let woke = false;
    void client.whenBacklogBelow(1000).then(() => (woke = true));
    await until(() => srv.messages.length >= 1);
    await new Promise((r) => setTimeout(r, 30));
    expect(woke).toBe(false);
    srv.ack(1); // the first frame only: still over 1000
    await new Promise((r) => setTimeout(r, 30));
    expect(woke).toBe(false);
    srv.ack(2);
    await until(() => woke);
    expect(client.backlog).toBe(0);
  });
});
