/** Step output served by the control plane, read from a real output-processor. */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InstantScheduler, type ControlPlane } from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import { openDatabase } from "@drover/control-plane/db";
import {
  HmacTaskTokenVerifier,
  createOutputProcessor,
  signOutputToken,
  type OutputProcessor,
} from "@drover/output-processor";
import { OutputClient } from "@drover/output-processor/client";
import { CONFIG, http, makeRepo, startTestServer } from "../helpers/server.js";

const TOKEN_SECRET = "job-output-token-secret";
const READ_TOKEN = "job-output-read-token-0123456789";

describe("GET /api/v2/project/{slug}/job/{number}/output", () => {
  let db: Database;
  let cp: ControlPlane;
  let op: OutputProcessor;
  let dir: string;
  let member: string;
  let outsider: string;
  let base: string;
  let details: {
    steps: Array<{ index: number; task_id: string; steps: unknown[]; output_url: string }>;
  };
  const slug = `gh/acme/out-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "drover-job-output-"));
    const expected = `Bearer ${READ_TOKEN}`;
    op = createOutputProcessor(
      {
        port: 0,
        host: "127.0.0.1",
        dataDir: dir,
        pusher: { appKey: "k", appSecret: "s".repeat(20) },
      },
      {
        logger: pino({ level: "silent" }),
        verifier: new HmacTaskTokenVerifier(TOKEN_SECRET),
        authorizeRead: async (req) => req.headers.authorization === expected,
      },
    );
    const port = await op.listen();
    db = await openDatabase({});
    const started = await startTestServer(db, new InstantScheduler(), {
      output: {
        url: `http://127.0.0.1:${port}`,
        port,
        pusherAppKey: "k",
        pusherAppSecret: "s".repeat(20),
        readToken: READ_TOKEN,
      },
    });
    cp = started.cp;
    const admin = started.admin;
    const repo = makeRepo({ ".circleci/config.yml": CONFIG });
    const project = await admin.addProject({ slug, repository_url: repo.url });
    member = (
      await admin.createToken({ login: `dev-${randomUUID().slice(0, 8)}`, projects: [slug] })
    ).token;
    outsider = (await admin.createToken({ login: `out-${randomUUID().slice(0, 8)}` })).token;
    const pipeline = await admin.trigger(slug, { branch: "main" });
    await cp.engine.idle();
    const wf = (await admin.pipelineWorkflows(pipeline.id)).items[0];
    const build = (await admin.workflowJobs(wf!.id)).items.find(
      (j: { name: string }) => j.name === "build",
    );
    base = `/api/v2/project/${slug}/job/${build!.job_number}/output`;
    details = (
      await http(cp.url, "GET", `/api/v2/project/${slug}/job/${build!.job_number}`, {
        bearer: member,
      })
    ).body;
    const taskId = details.steps[0]!.task_id;

    // The agent's side: two steps, the second with two lines.
    const client = new OutputClient({
      url: `http://127.0.0.1:${port}`,
      taskId,
      token: signOutputToken(TOKEN_SECRET, {
        taskId,
        jobId: build!.id,
        projectId: project.id,
        expiresAt: Date.now() + 60_000,
      }),
    });
    await client.connect();
    client.stepStarted(0, "Spin up environment");
    client.write(0, "out", "pulling drover/debian\n");
    client.stepFinished(0, 0, "success");
    client.stepStarted(1, "echo building");
    client.write(1, "out", "\u001b[32mbuilding\u001b[0m\n");
    client.write(1, "err", "warning: shiny\n");
    client.stepFinished(1, 0, "success");
    client.taskFinished("success");
    await client.close();
  });
  afterAll(async () => {
    await cp?.close();
    await op?.close().catch(() => undefined);
    await db?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = (query: string, token: string | null = member) =>
    fetch(new URL(`${base}${query}`, cp.url), {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });

  it("serves a node's whole output as text, ANSI kept", async () => {
    const res = await get("?node=0");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toContain("text/plain");
    const text = await res.text();
    expect(text).toContain("pulling drover/debian\n");
    expect(text).toContain("\u001b[32mbuilding\u001b[0m\n");
    expect(text.indexOf("pulling")).toBeLessThan(text.indexOf("building"));
  });

  it("serves one step, as text or as JSON lines", async () => {
    const text = await (await get("?step=1")).text();
    expect(text).toBe("\u001b[32mbuilding\u001b[0m\nwarning: shiny\n");
    const res = await get("?step=1&format=jsonl");
    expect(res.headers.get("content-type")).toContain("application/x-ndjson");
    const lines = (await res.text())
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { step: number; kind: string });
    expect(lines.length).toBeGreaterThanOrEqual(3);
    expect(lines.every((l) => l.step === 1)).toBe(true);
    expect(lines.map((l) => l.kind)).toContain("step_finished");
  });

  it("serves the tail, and a download", async () => {
    const tail = await get("?tail=8");
    expect(tail.status).toBe(200);
    expect(await tail.text()).toMatch(/warning: shiny\n$/);
    const dl = await get("?download=1");
    expect(dl.headers.get("content-disposition")).toMatch(/^attachment; filename=".+\.log"$/);
  });

  it("links every step's output from the job details", () => {
    const node = details.steps[0]!;
    expect(node.output_url).toMatch(new RegExp(`${base.replace(/[/]/g, "\\/")}\\?node=0$`));
    expect(node.steps).toEqual([]); // the instant scheduler reports no steps; the link is per node
  });

  it("answers what cannot be served with the right status", async () => {
    expect((await get("?node=0", outsider)).status).toBe(404);
    expect((await get("?node=0", null)).status).toBe(401);
    expect((await get("?node=7")).status).toBe(404);
    for (const bad of ["?node=-1", "?format=xml", "?tail=0", "?colour=yes"]) {
      const res = await get(bad);
      expect(res.status, bad).toBe(400);
      expect(((await res.json()) as { code: string }).code).toBe("DROVER_ERR_VALIDATION");
    }
  });

  it("says the output-processor is unavailable when it is down", async () => {
    await op.close();
    const res = await get("?node=0");
    expect(res.status).toBe(503);
    expect(((await res.json()) as { code: string }).code).toBe("DROVER_ERR_OUTPUT_UNAVAILABLE");
  });
});
