/** CircleCI API v1.1 job details and action output, read from a real output-processor. */
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

const TOKEN_SECRET = "v1-api-token-secret-0123";
const READ_TOKEN = "v1-read-token-0123456789abcdef";

describe("CircleCI API v1.1 job details", () => {
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
  const slug = `gh/acme/v1-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "drover-v1-"));
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
    base = `/api/v1.1/project/${slug}/${build!.job_number}`;
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

  const get = (path: string, token: string | null = member) =>
    fetch(new URL(`${base}${path}`, cp.url), {
      headers: token ? { authorization: `Bearer ${token}` } : {},
    });

  it("serves the build with CircleCI's v1.1 fields", async () => {
    const res = await get("");
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body.build_num).toBe(Number(base.split("/").pop()));
    expect(body.reponame).toBe(slug.split("/")[2]);
    expect(body.username).toBe("acme");
    expect(body.vcs_type).toBe("gh");
    // No agent claims the job here: it stays queued, with no outcome yet.
    expect(body.status).toBe("queued");
    expect(body.lifecycle).toBe("queued");
    expect(body.outcome).toBeNull();
    expect(typeof body.vcs_revision).toBe("string");
    expect(Array.isArray(body.steps)).toBe(true);
    expect((body.workflows as { job_name: string }).job_name).toBe("build");
  });

  it("serves an action's output as a JSON array of {message, time, type}", async () => {
    const res = await get("/output/1/0");
    expect(res.status).toBe(200);
    const out = (await res.json()) as Array<{ message: string; time: string; type: string }>;
    expect(out.map((m) => m.message).join("")).toBe(
      "\u001b[32mbuilding\u001b[0m\nwarning: shiny\n",
    );
    expect(out.map((m) => m.type)).toEqual(["out", "err"]);
    for (const m of out) expect(Number.isNaN(Date.parse(m.time))).toBe(false);
    expect(await (await get("/output/9/0")).json()).toEqual([]);
  });

  it("answers what cannot be served with CircleCI's message and Drover's code", async () => {
    expect((await get("", outsider)).status).toBe(404);
    expect((await get("", null)).status).toBe(401);
    const missing = await get("/output/1/7");
    expect(missing.status).toBe(404);
    const body = (await missing.json()) as { message: string; code: string };
    expect(typeof body.message).toBe("string");
    expect(body.code).toMatch(/^DROVER_ERR_/);
  });
});
