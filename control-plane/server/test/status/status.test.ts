import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InstantScheduler, type ControlPlane } from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";
import { makeRepo, startTestServer } from "../helpers/server.js";

const CONFIG = `version: 2.1
jobs:
  build:
    docker: [{image: drover/debian:bookworm}]
    steps: [{run: "true"}]
workflows:
  main:
    jobs: [build]
`;

function sample(text: string, series: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${series} `));
  return line === undefined ? undefined : Number(line.slice(series.length + 1));
}

describe("control plane status endpoints", () => {
  let db: Database;
  let cp: ControlPlane;
  let broken: ControlPlane;
  let brokenDb: Database;

  beforeAll(async () => {
    db = await openDatabase({});
    ({ cp } = await startTestServer(db, new InstantScheduler()));
    brokenDb = await openDatabase({});
    ({ cp: broken } = await startTestServer(brokenDb, new InstantScheduler(), {
      output: { url: "http://127.0.0.1:9", port: 9, pusherAppKey: "k", pusherAppSecret: "s" },
    }));
  });
  afterAll(async () => {
    await cp?.close();
    await broken?.close();
    await db?.close();
    await brokenDb?.close();
  });

  it("is ready when its dependencies answer, and says which one does not", async () => {
    const ok = await fetch(`${cp.url}/readyz`);
    expect(ok.status).toBe(200);
    expect(await ok.json()).toEqual({
      status: "ready",
      checks: { database: { ok: true, detail: "ok" } },
    });
    const down = await fetch(`${broken.url}/readyz`);
    expect(down.status).toBe(503);
    const body = (await down.json()) as {
      status: string;
      checks: Record<string, { ok: boolean; detail: string }>;
    };
    expect(body.status).toBe("not ready");
    expect(body.checks.database?.ok).toBe(true);
    expect(body.checks.outputProcessor?.ok).toBe(false);
  });

  it("exports queue depth and tasks by state to Prometheus, without a token", async () => {
    const token = cp.bootstrapToken!;
    const repo = makeRepo({ ".circleci/config.yml": CONFIG });
    const slug = `gh/status/${randomUUID().slice(0, 8)}`;
    const headers = { "Circle-Token": token, "content-type": "application/json" };
    await fetch(`${cp.url}/api/v2/project`, {
      method: "POST",
      headers,
      body: JSON.stringify({ slug, repository_url: repo.url, default_branch: "main" }),
    });
    const trig = await fetch(`${cp.url}/api/v2/project/${slug}/pipeline`, {
      method: "POST",
      headers,
      body: JSON.stringify({ branch: "main" }),
    });
    expect(trig.status).toBeLessThan(300);
    await cp.engine.idle();
    const res = await fetch(`${cp.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(sample(text, 'drover_tasks{status="submitted"}')).toBe(1);
    expect(sample(text, "drover_queue_depth")).toBe(1);
    expect(text).toMatch(/^drover_cp_process_resident_memory_bytes /m);
  });
});
