/**
 * The distributed stack on real containers (see stack.ts): work triggered on one control-plane
 * instance is seen and controlled from the other, a browser's Pusher client on one
 * output-processor sees lines an agent writes to the other, 50 concurrent pipelines each run their
 * job exactly once, and each fault (SIGKILL of a control plane, of an output-processor, of the
 * runner; restarts of Redis and PostgreSQL; the output-processors cut off for 10 s) leaves every
 * job in a correct final state, every stored log with each line once and in order, and the audit
 * log complete. Prints the fault table at the end.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import pg from "pg";
import Pusher from "pusher-js";
import { DroverClient } from "@drover/cli";
import { API_TOKEN_PREFIX, generateToken, hashToken, insertApiToken } from "@drover/control-plane";
import { openDatabase } from "@drover/control-plane/db";
import { missingImages, startStack, type ServiceName, type Stack } from "./stack.js";

const missing = await missingImages();
if (missing.length > 0 && process.env.CI === "true") {
  throw new Error(`the stack's images are missing (npm run images): ${missing.join(", ")}`);
}

const LINES = 30;
/** A job printing numbered lines, slowly enough for a fault to land while it runs. */
const countingConfig = (lines = LINES, pause = "0.3") => `version: 2.1
jobs:
  count:
    docker:
      - image: drover/ci-base:latest
    steps:
      - run:
          name: count
          command: for i in $(seq 1 ${lines}); do echo "line $i"; sleep ${pause}; done
workflows:
  main:
    jobs: [count]
`;

interface Job {
  status: string;
  number: number;
  messages?: Array<{ message: string }>;
}

const FINAL = new Set([
  "success",
  "failed",
  "infrastructure_fail",
  "canceled",
  "not_run",
  "timedout",
]);

describe.skipIf(missing.length > 0)("the distributed stack (testcontainers)", () => {
  let stack: Stack;
  let token: string;
  // Clients follow the instances' current host ports (a restarted container gets a new one).
  const client = (url: () => string) =>
    new Proxy({} as DroverClient, {
      get: (_t, key: keyof DroverClient) => {
        const c = new DroverClient(url(), token);
        const v = c[key];
        return typeof v === "function" ? (v as (...x: unknown[]) => unknown).bind(c) : v;
      },
    });
  const a = client(() => stack.cp1);
  const b = client(() => stack.cp2);
  const table: Array<{
    fault: string;
    affected: number;
    recovered: number;
    lost: number;
    duplicated: number;
  }> = [];

  beforeAll(async () => {
    stack = await startStack();
    const db = await openDatabase({ url: stack.postgresUrl });
    try {
      const { rows } = await db.query<{ id: string }>("SELECT id FROM users WHERE login = 'admin'");
      token = generateToken(API_TOKEN_PREFIX);
      await insertApiToken(db, rows[0]!.id, hashToken(token), "stack test");
    } finally {
      await db.close();
    }
  }, 300_000);

  afterAll(async () => {
    if (table.length > 0) {
      const head =
        "fault                          | jobs affected | recovered | lines lost | lines duplicated";
      const rows = table.map(
        (r) =>
          `${r.fault.padEnd(30)} | ${String(r.affected).padStart(13)} | ${String(r.recovered).padStart(9)} | ${String(r.lost).padStart(10)} | ${String(r.duplicated).padStart(16)}`,
      );
      process.stdout.write(`\n${[head, "-".repeat(head.length), ...rows].join("\n")}\n`);
    }
    await stack?.stop();
  }, 120_000);

  async function project(config: string): Promise<string> {
    const name = `stack-${randomUUID().slice(0, 8)}`;
    const slug = `gh/stack/${name}`;
    await a.addProject({
      slug,
      repository_url: stack.newRepo(name, { ".circleci/config.yml": config }),
    });
    return slug;
  }

  /** The one job of a pipeline, through either instance. */
  async function jobOf(
    client: DroverClient,
    pipelineId: string,
  ): Promise<{ slug: string; job: Job; workflowId: string } | null> {
    const wfs = await client.pipelineWorkflows(pipelineId).catch(() => null);
    const wf = wfs?.items[0];
    if (!wf) return null;
    const jobs = await client.workflowJobs(wf.id).catch(() => null);
    const j = jobs?.items[0] as { job_number?: number; status: string } | undefined;
    if (!j?.job_number) return null;
    const p = await client.pipeline(pipelineId);
    const job = await client.job(p.project_slug, j.job_number).catch(() => null);
    return job ? { slug: p.project_slug, job: job as unknown as Job, workflowId: wf.id } : null;
  }

  /** Polls (alternating instances, tolerating one that is down) until `check` holds. */
  async function until<T>(
    what: string,
    fn: (c: DroverClient) => Promise<T | null>,
    ms = 180_000,
  ): Promise<T> {
    const end = Date.now() + ms;
    let i = 0;
    let last: unknown;
    while (Date.now() < end) {
      try {
        const v = await fn(i++ % 2 === 0 ? a : b);
        if (v !== null) return v;
        last = "not yet";
      } catch (err) {
        last = err;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
  }

  /** The stored log text of a job (through the API), as its numbered lines. */
  async function numbered(slug: string, n: number): Promise<number[]> {
    const text = await until(`output of job ${n}`, async (c) => {
      const res = await fetch(new URL(`/api/v2/project/${slug}/job/${n}/output`, c.url), {
        headers: { "circle-token": token },
      });
      return res.ok ? res.text() : null;
    });
    return [...text.matchAll(/^line (\d+)\r?$/gm)].map((m) => Number(m[1]));
  }

  /** Lines missing from 1..k (k = highest seen, or all for a success) and lines seen twice. */
  function count(
    lines: number[],
    complete: boolean,
  ): { lost: number; duplicated: number; ordered: boolean } {
    const top = complete ? LINES : Math.max(0, ...lines);
    const seen = new Set(lines);
    let lost = 0;
    for (let i = 1; i <= top; i++) if (!seen.has(i)) lost++;
    const ordered = lines.every((v, i) => i === 0 || v > lines[i - 1]!);
    return { lost, duplicated: lines.length - seen.size, ordered };
  }

  /** Triggers `n` pipelines, spread over both instances. */
  async function trigger(slug: string, n: number): Promise<string[]> {
    const ids = await Promise.all(
      Array.from({ length: n }, (_v, i) => (i % 2 === 0 ? a : b).trigger(slug, { branch: "main" })),
    );
    return ids.map((p) => p.id);
  }

  async function runningWithOutput(slug: string, pipelines: string[]): Promise<void> {
    for (const id of pipelines) {
      const j = await until(`job of ${id} running`, async (c) => {
        const r = await jobOf(c, id);
        return r && (r.job.status === "running" || FINAL.has(r.job.status)) ? r : null;
      });
      await until(`first lines of ${id}`, async () =>
        (await numbered(slug, j.job.number)).length >= 2 ? true : null,
      );
    }
  }

  /**
   * The pipelines' jobs once all are final. Polled in one loop straight from PostgreSQL (a short
   * connection each time, so a PostgreSQL restart only delays it), then each job read once
   * through the API, alternating instances: 50 loops of API polls would load the 2-core host more
   * than the jobs do.
   */
  async function finals(pipelines: string[]) {
    const end = Date.now() + 600_000;
    let last: Array<{ pipeline_id: string; status: string; number: number }> = [];
    for (;;) {
      const rows = await jobRows(pipelines).catch(() => null);
      if (rows) last = rows;
      if (rows && rows.length === pipelines.length && rows.every((r) => FINAL.has(r.status))) break;
      if (Date.now() > end) {
        const open = last.filter((r) => !FINAL.has(r.status));
        throw new Error(
          `jobs not final after 600 s: ${JSON.stringify(open.slice(0, 10))} (${last.length} of ${pipelines.length} seen)`,
        );
      }
      await new Promise((r) => setTimeout(r, 1_000));
    }
    const out = [];
    for (const id of pipelines) {
      out.push(await until(`job of ${id}`, (c) => jobOf(c, id)));
    }
    return out;
  }

  async function jobRows(pipelines: string[]) {
    const client = new pg.Client({
      connectionString: stack.postgresUrl,
      connectionTimeoutMillis: 3_000,
    });
    client.on("error", () => undefined);
    await client.connect();
    try {
      const { rows } = await client.query<{ pipeline_id: string; status: string; number: number }>(
        `SELECT w.pipeline_id, j.status, j.number FROM jobs j JOIN workflows w ON w.id = j.workflow_id
         WHERE w.pipeline_id = ANY($1::uuid[])`,
        [pipelines],
      );
      return rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  async function auditActions(): Promise<Map<string, number>> {
    const res = await fetch(new URL("/api/v2/admin/audit-log?limit=1000", stack.cp2), {
      headers: { "circle-token": token },
    });
    const body = (await res.json()) as { items: Array<{ action: string }> };
    const counts = new Map<string, number>();
    for (const e of body.items) counts.set(e.action, (counts.get(e.action) ?? 0) + 1);
    return counts;
  }

  it("a pipeline triggered on instance A is seen and canceled from B; a Pusher client on output-processor 2 sees lines written to 1", async () => {
    const slug = await project(countingConfig(200, "0.1"));
    const [id] = await trigger(slug, 1);
    const seen = await until("the job on B", async () => {
      const r = await jobOf(b, id!);
      return r?.job.status === "running" ? r : null;
    });
    // A browser subscribed through output-processor 2 gets live lines, whichever one ingests.
    const live: string[] = [];
    const jobId = (
      await b.request<{ items: Array<{ id: string }> }>(
        "GET",
        `/api/v2/workflow/${seen.workflowId}/job`,
      )
    ).items[0]!.id;
    const pusher = new Pusher(stack.pusher.appKey, {
      wsHost: "127.0.0.1",
      wsPort: Number(new URL(stack.op2).port),
      forceTLS: false,
      enabledTransports: ["ws"],
      cluster: "",
      channelAuthorization: {
        endpoint: new URL("/api/pusher/auth", stack.cp2).href,
        transport: "ajax",
        headers: { "circle-token": token },
      },
    });
    try {
      const channel = pusher.subscribe(`private-job-${jobId}`);
      channel.bind_global((_event: string, data: unknown) => live.push(JSON.stringify(data)));
      await until(
        "live lines through output-processor 2",
        async () => (live.some((l) => /line \d+/.test(l)) ? true : null),
        60_000,
      );
    } finally {
      pusher.disconnect();
    }
    // Controlled from the other instance.
    await b.request("POST", `/api/v2/workflow/${seen.workflowId}/cancel`);
    const done = await until("canceled on A", async () => {
      const r = await jobOf(a, id!);
      return r?.job.status === "canceled" ? r : null;
    });
    expect(done.job.status).toBe("canceled");
  }, 300_000);

  it("50 pipelines triggered at once across both instances: every job runs exactly once", async () => {
    const slug = await project(countingConfig(3, "0"));
    const ids = await trigger(slug, 50);
    const results = await finals(ids);
    expect(results.map((r) => r.job.status)).toEqual(Array(50).fill("success"));
    const db = await openDatabase({ url: stack.postgresUrl });
    try {
      const { rows } = await db.query<{ n: number; jobs: number }>(
        `SELECT count(*)::int AS n, count(DISTINCT t.job_id)::int AS jobs
         FROM tasks t JOIN jobs j ON j.id = t.job_id JOIN workflows w ON w.id = j.workflow_id
         WHERE w.pipeline_id = ANY($1::uuid[])`,
        [ids],
      );
      expect(rows[0]).toEqual({ n: 50, jobs: 50 });
    } finally {
      await db.close();
    }
    const actions = await auditActions();
    expect(actions.get("pipeline.trigger") ?? 0).toBeGreaterThanOrEqual(50);
  }, 600_000);

  const faults: Array<{ fault: string; inject: () => Promise<void> }> = [
    {
      fault: "SIGKILL control-plane 1",
      inject: async () => {
        await stack.kill("cp1");
        await new Promise((r) => setTimeout(r, 5_000));
        await stack.start("cp1");
      },
    },
    {
      fault: "SIGKILL output-processor 1",
      inject: async () => {
        await stack.kill("op1");
        await new Promise((r) => setTimeout(r, 5_000));
        await stack.start("op1");
      },
    },
    {
      fault: "SIGKILL runner",
      inject: async () => {
        await stack.kill("runner");
        await new Promise((r) => setTimeout(r, 3_000));
        await stack.start("runner");
      },
    },
    { fault: "restart Redis", inject: () => stack.restart("redis") },
    { fault: "restart PostgreSQL", inject: () => stack.restart("postgres") },
    {
      fault: "output-processors cut 10 s",
      inject: () => stack.cut(["op1", "op2"] as ServiceName[], 10_000),
    },
  ];

  for (const { fault, inject } of faults) {
    it(`${fault}: every job ends correctly, each stored line once and in order, audit complete`, async () => {
      const slug = await project(countingConfig());
      const before = await auditActions();
      const ids = await trigger(slug, 3);
      await runningWithOutput(slug, ids);
      await inject();
      const results = await finals(ids);
      let lost = 0;
      let duplicated = 0;
      let recovered = 0;
      for (const r of results) {
        const ok = r.job.status === "success";
        expect(["success", "infrastructure_fail"], `job ${r.job.number}`).toContain(r.job.status);
        if (!ok) expect(r.job.messages?.[0]?.message ?? "", "a reason").not.toBe("");
        const c = count(await numbered(r.slug, r.job.number), ok);
        expect(c.ordered, `job ${r.job.number} lines in order`).toBe(true);
        lost += c.lost;
        duplicated += c.duplicated;
        if (ok) recovered++;
      }
      table.push({ fault, affected: ids.length, recovered, lost, duplicated });
      expect({ lost, duplicated }).toEqual({ lost: 0, duplicated: 0 });
      const after = await auditActions();
      const delta = (k: string) => (after.get(k) ?? 0) - (before.get(k) ?? 0);
      expect(delta("pipeline.trigger")).toBe(ids.length);
      expect(delta("workflow.job.start")).toBeGreaterThanOrEqual(ids.length);
    }, 600_000);
  }
});
