import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import { afterEach, describe, expect, it } from "vitest";
import { TaskApiClient } from "@drover/task-api";

let server: Server | undefined;
afterEach(async () => {
  server?.closeAllConnections();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
});

/** A server answering from a script of statuses; records each request's body. */
async function scripted(
  statuses: number[],
): Promise<{ url: string; seen: Array<{ url: string; body: string }> }> {
  const seen: Array<{ url: string; body: string }> = [];
  server = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen.push({ url: req.url ?? "", body });
      res.statusCode = statuses.shift() ?? 500;
      res.end(res.statusCode === 200 ? JSON.stringify({ key: "k1", layers: [] }) : "");
    });
  });
  await new Promise<void>((r) => server?.listen(0, "127.0.0.1", r));
  return { url: `http://127.0.0.1:${(server?.address() as AddressInfo).port}`, seen };
}

function client(url: string): TaskApiClient {
  const c = new TaskApiClient({ url, retries: 4, backoffMs: 5 });
  c.useSession("task-1", "session-1");
  return c;
}

describe("task API client", () => {
  it("retries idempotent calls on 503 and succeeds", async () => {
    const s = await scripted([503, 502, 204]);
    const c = client(s.url);
    await c.sendEvents([
      { type: "task_finished", result: "success", at: new Date().toISOString() },
    ]);
    expect(s.seen).toHaveLength(3);
    expect(s.seen.every((r) => r.url === "/internal/v1/tasks/task-1/events")).toBe(true);
    await c.close();
  });

  it("gives up after its attempts with the last status", async () => {
    const s = await scripted([503, 503, 503, 503, 503]);
    const c = client(s.url);
    await expect(c.findCache(["a"])).rejects.toMatchObject({ status: 503 });
    expect(s.seen).toHaveLength(4);
    expect(s.seen[0]?.url).toBe("/internal/v1/tasks/task-1/caches?keys=a");
    await c.close();
  });

  it("never retries a claim or a streamed body", async () => {
    const s = await scripted([503, 503]);
    const c = new TaskApiClient({ url: s.url, retries: 4, backoffMs: 5 });
    await expect(c.claim("tok")).rejects.toMatchObject({
      code: "DROVER_ERR_TASK_API",
      status: 503,
    });
    c.useSession("task-1", "session-1");
    await expect(c.putCache("k", Readable.from([Buffer.from("x")]))).rejects.toMatchObject({
      status: 503,
    });
    expect(s.seen).toHaveLength(2);
    await c.close();
  });

  it("maps 404 on cache lookup to undefined and 409 on put to false", async () => {
    const s = await scripted([404, 409, 200]);
    const c = client(s.url);
    expect(await c.findCache(["x", "y"])).toBeUndefined();
    expect(s.seen[0]?.url).toBe("/internal/v1/tasks/task-1/caches?keys=x&keys=y");
    expect(await c.putCache("a/b", Buffer.from("z"))).toBe(false);
    expect(s.seen[1]?.url).toBe("/internal/v1/tasks/task-1/caches/a%2Fb");
    expect(await c.findCache(["k"])).toBe("k1");
    await c.close();
  });
});

describe("task API client claim", () => {
  it("retries a claim whose connection was refused, until the server is up", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer();
      probe.listen(0, "127.0.0.1", () => {
        const p = (probe.address() as AddressInfo).port;
        probe.close(() => resolve(p));
      });
    });
    const c = new TaskApiClient({ url: `http://127.0.0.1:${port}`, retries: 6, backoffMs: 50 });
    setTimeout(() => {
      server = createServer((_req, res) => {
        res.statusCode = 401;
        res.end("{}");
      });
      server.listen(port, "127.0.0.1");
    }, 150);
    await expect(c.claim("tok")).rejects.toMatchObject({
      code: "DROVER_ERR_TASK_TOKEN",
      status: 401,
    });
    await c.close();
  });
});
