import { randomUUID } from "node:crypto";
import { connect } from "node:net";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import WebSocket from "ws";
import { INGEST_CLOSE, INGEST_PATH, PUSHER_CLOSE } from "@drover/output-processor";
import { OutputClient } from "@drover/output-processor/client";
import {
  APP_KEY,
  READ_TOKEN,
  startProcessor,
  tempDir,
  tokenFor,
  type Started,
} from "./helpers/env.js";
import { Watcher } from "./helpers/watcher.js";

/** One HTTP/1.1 request with the request target sent byte for byte (no client normalizes it). */
function rawGet(port: number, target: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, "127.0.0.1");
    let data = "";
    socket.setEncoding("latin1");
    socket.on("data", (d: string) => (data += d));
    socket.on("error", reject);
    socket.on("end", () => {
      const at = data.indexOf("\r\n\r\n");
      const head = data.slice(0, at);
      let body = data.slice(at + 4);
      if (/^transfer-encoding: chunked/im.test(head)) {
        let plain = "";
        for (let i = 0; ;) {
          const eol = body.indexOf("\r\n", i);
          const size = parseInt(body.slice(i, eol), 16);
          if (!size) break;
          plain += body.slice(eol + 2, eol + 2 + size);
          i = eol + 2 + size + 2;
        }
        body = plain;
      }
      resolve({
        status: Number(/^HTTP\/1\.1 (\d{3})/.exec(head)?.[1] ?? 0),
        body: Buffer.from(body, "latin1").toString("utf8"),
      });
    });
    socket.write(
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer ${READ_TOKEN}\r\nConnection: close\r\n\r\n`,
    );
  });
}

function closeOf(ws: WebSocket): Promise<{ code: number; reason: string }> {
  return new Promise((resolve) =>
    ws.once("close", (code, reason) => resolve({ code, reason: reason.toString() })),
  );
}

describe("malformed input to every route is a 400 (or the protocol's refusal) naming the field", () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  let s: Started;
  const taskId = `t-${randomUUID()}`;
  beforeAll(async () => {
    dir = await tempDir();
    s = await startProcessor({ dataDir: dir.dir });
    const c = new OutputClient({ url: s.url, token: tokenFor(taskId, "job-1"), taskId });
    await c.connect();
    c.write(0, "out", "hello\n");
    await c.close();
  });
  afterAll(async () => {
    await s.op.close();
    await dir.cleanup();
  });

  it.each([
    ["/output/v1/tasks/%/log", "task id"],
    ["/output/v1/tasks/%/raw", "task id"],
    ["/output/v1/tasks/%E0%A4%A/log", "task id"],
    ["/output/v1/tasks/%C0%AF/log", "task id"], // an overlong UTF-8 encoding of "/"
    ["/output/v1/tasks/%ED%A0%80/log", "task id"], // a UTF-16 surrogate in UTF-8
    ["/output/v1/tasks/a%00b/log", "task id"],
    ["/output/v1/tasks/a%0Ab/log", "task id"],
    [`/output/v1/tasks/${"x".repeat(300)}/log`, "task id"],
    [`/output/v1/tasks/TASK/log?from=9007199254740993`, "from"],
    [`/output/v1/tasks/TASK/log?to=99999999999999999999999999`, "to"],
    [`/output/v1/tasks/TASK/log?tail=18446744073709551616`, "tail"],
    [`/output/v1/tasks/TASK/log?fromByte=9007199254740992`, "fromByte"],
    [`/output/v1/tasks/TASK/log?toByte=1e3`, "toByte"],
    [`/output/v1/tasks/TASK/log?from=-1`, "from"],
    [`/output/v1/tasks/TASK/log?from=1&from=2`, "from"],
    [`/output/v1/tasks/TASK/log?tail=0`, "tail"],
    [`/output/v1/tasks/TASK/log?format=%ZZ`, "format"],
    [`/output/v1/tasks/TASK/log?format=text&format=jsonl`, "format"],
    [`/output/v1/tasks/TASK/log?format=jsonl&fromByte=1`, "fromByte"],
    ["http://[oops/output/v1/tasks/x/log", "path"],
  ])("GET %s -> 400 naming %s", async (target, field) => {
    const r = await rawGet(s.port, target.replace("TASK", taskId));
    expect(r.status, r.body).toBe(400);
    const body = JSON.parse(r.body) as { code: string; field: string; message: string };
    expect(body.code).toBe("DROVER_ERR_OUTPUT_QUERY");
    expect(body.field).toBe(field);
    expect(body.message).toContain(field === "path" ? "not a URL" : field);
  });

  it("still answers good requests, and 404 for an unknown task or route", async () => {
    expect(
      await rawGet(s.port, `/output/v1/tasks/${taskId}/log?from=1&to=9007199254740991`),
    ).toEqual({
      status: 200,
      body: "hello\n",
    });
    expect((await rawGet(s.port, "/output/v1/tasks/%2e%2e%2Fnope/log")).status).toBe(404);
    expect((await rawGet(s.port, "/nowhere%")).status).toBe(404);
    expect((await rawGet(s.port, "//[/output/v1/tasks/x/log")).status).toBe(404);
    expect((await rawGet(s.port, "/healthz")).status).toBe(200);
  });

  it.each([
    ["/app/%?protocol=7", PUSHER_CLOSE.pathNotFound, /app key/],
    [`/app/${APP_KEY}%00?protocol=7`, PUSHER_CLOSE.pathNotFound, /app key/],
    [`/app/${APP_KEY}?protocol=7abc`, PUSHER_CLOSE.invalidVersionFormat, /protocol/],
    [`/app/${APP_KEY}?protocol=`, PUSHER_CLOSE.invalidVersionFormat, /protocol/],
    [
      `/app/${APP_KEY}?protocol=99999999999999999999`,
      PUSHER_CLOSE.invalidVersionFormat,
      /protocol/,
    ],
  ])("a browser connecting to %s is refused with %i", async (path, code, why) => {
    const ws = new WebSocket(`${s.url}${path}`);
    const closed = closeOf(ws);
    const error = new Promise<string>((r) => ws.once("message", (d) => r(d.toString())));
    expect((await closed).code).toBe(code);
    expect(await error).toMatch(why);
    // The server lives on.
    expect((await rawGet(s.port, "/healthz")).status).toBe(200);
  });

  it("refuses a subscription whose since names a seq past 2^53 - 1", async () => {
    const w = new Watcher(s.port);
    try {
      w.last.set(taskId, 2 ** 60);
      w.watchJob("job-1");
      await vi.waitFor(() => expect(w.subscriptionErrors.length).toBeGreaterThan(0));
      expect(JSON.stringify(w.subscriptionErrors[0])).toMatch(
        /channel_data\.since\[.*\].*"status":400/,
      );
      expect(w.subscribed).toBe(false);
    } finally {
      w.pusher.disconnect();
    }
  });

  it("closes an agent connection whose malformed hello quotes non-ASCII text", async () => {
    const ws = new WebSocket(`${s.url}${INGEST_PATH}`);
    await new Promise((r, j) => ws.once("open", r).once("error", j));
    const closed = closeOf(ws);
    ws.send(`é${"é".repeat(200)}`);
    const { code, reason } = await closed;
    expect(code).toBe(INGEST_CLOSE.malformed);
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(reason).toMatch(/^not JSON/);
  });
});
