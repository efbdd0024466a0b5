/**
 * `npm run bench -- trigger [--pipelines N] [--concurrency C]`: triggers N pipelines (default
 * 1,000) of a 5-job workflow through the HTTP API, with a scheduler backend that accepts tasks
 * instantly, on PGlite and on PostgreSQL. Prints jobs queued per second and the p99 trigger
 * latency beside the goals (>= 300 jobs/s, p99 < 50 ms on PostgreSQL) as ratios.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import pino from "pino";
import { DroverClient } from "@drover/cli";
import { InstantScheduler, serverConfigSchema, startControlPlane } from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";

const POSTGRES_URL =
  process.env.DROVER_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const GOAL_JOBS_PER_S = 300;
const GOAL_P99_MS = 50;
const JOBS = 5;

const CONFIG = `version: 2.1
executors:
  debian: {docker: [{image: drover/debian:bookworm}]}
jobs:
${Array.from({ length: JOBS }, (_, i) => `  job${i}: {executor: debian, steps: [checkout, {run: "make part${i}"}]}`).join("\n")}
workflows:
  bench:
    jobs: [${Array.from({ length: JOBS }, (_, i) => `job${i}`).join(", ")}]
`;

interface Phase {
  jobsPerS: number;
  p50: number;
  p99: number;
  seconds: number;
}

interface Result {
  name: string;
  /** `concurrency` clients: throughput and the latency under that load. */
  loaded: Phase;
  /** One client: the latency of a trigger on its own. */
  single: Phase;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? 0;
}

async function measure(
  name: string,
  db: Database,
  pipelines: number,
  concurrency: number,
): Promise<Result> {
  const dataDir = mkdtempSync(join(tmpdir(), "drover-bench-"));
  const scheduler = new InstantScheduler();
  const cp = await startControlPlane({
    config: serverConfigSchema.parse({ port: 0, dataDir, tickIntervalMs: 0, scheduleTickMs: 0 }),
    logger: pino({ level: "silent" }),
    db,
    scheduler,
  });
  try {
    const client = new DroverClient(cp.url, cp.bootstrapToken ?? "");
    const slug = `gh/bench/${randomUUID().slice(0, 8)}`;
    await client.addProject({ slug, repository_url: "file:///nonexistent" });
    const body = {
      branch: "main",
      revision: "0123456789abcdef0123456789abcdef01234567",
      config: CONFIG,
    };
    // Warm up the connection pool, the compiler and the query plans.
    for (let i = 0; i < 20; i++) await client.trigger(slug, body);
    await cp.engine.idle();
    const phase = async (count: number, clients: number): Promise<Phase> => {
      const before = scheduler.submitted.size;
      const latencies: number[] = [];
      let next = 0;
      const start = performance.now();
      await Promise.all(
        Array.from({ length: clients }, async () => {
          while (next < count) {
            next++;
            const t0 = performance.now();
            const p = await client.trigger(slug, body);
            latencies.push(performance.now() - t0);
            if (p.state !== "created") throw new Error(`pipeline ${p.number} is ${p.state}`);
          }
        }),
      );
      await scheduler.waitFor((all) => all.length - before >= count * JOBS, 120_000);
      const seconds = (performance.now() - start) / 1000;
      latencies.sort((a, b) => a - b);
      return {
        jobsPerS: (count * JOBS) / seconds,
        p50: percentile(latencies, 50),
        p99: percentile(latencies, 99),
        seconds,
      };
    };
    const loaded = await phase(pipelines, concurrency);
    const single = await phase(Math.min(200, pipelines), 1);
    return { name, loaded, single };
  } finally {
    await cp.close();
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: { pipelines: { type: "string" }, concurrency: { type: "string" } },
  });
  const pipelines = Number(values.pipelines ?? 1000);
  const concurrency = Number(values.concurrency ?? 8);
  process.stdout.write(
    `${pipelines} pipelines x ${JOBS} jobs (no requires: all queued at trigger), ${concurrency} clients over HTTP,\n` +
      `config compiled per trigger, instant scheduler backend\n`,
  );
  const results: Result[] = [];
  const lite = await openDatabase({});
  try {
    results.push(await measure("pglite", lite, pipelines, concurrency));
  } finally {
    await lite.close();
  }
  const schema = `bench_${randomUUID().replaceAll("-", "")}`;
  const pgdb = await openDatabase({ url: POSTGRES_URL, schema });
  try {
    results.push(await measure("postgres", pgdb, pipelines, concurrency));
  } finally {
    await pgdb.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await pgdb.close();
  }
  const ms = (v: number) => `${v.toFixed(1)} ms`;
  for (const r of results) {
    const goal = r.name === "postgres" ? "goal" : "PostgreSQL goal, for scale";
    process.stdout.write(
      `${r.name}:\n` +
        `  jobs queued/s, ${concurrency} clients: ${r.loaded.jobsPerS.toFixed(0)} (${goal} >= ${GOAL_JOBS_PER_S}: ${(r.loaded.jobsPerS / GOAL_JOBS_PER_S).toFixed(2)}x), ${r.loaded.seconds.toFixed(1)} s\n` +
        `  trigger p99, 1 client: ${ms(r.single.p99)} (${goal} < ${GOAL_P99_MS} ms: ${(GOAL_P99_MS / r.single.p99).toFixed(2)}x headroom), p50 ${ms(r.single.p50)}\n` +
        `  trigger p99, ${concurrency} clients: ${ms(r.loaded.p99)} (${(GOAL_P99_MS / r.loaded.p99).toFixed(2)}x headroom), p50 ${ms(r.loaded.p50)}\n`,
    );
  }
  const [a, b] = results;
  if (a && b) {
    process.stdout.write(
      `postgres / pglite throughput: ${(b.loaded.jobsPerS / a.loaded.jobsPerS).toFixed(2)}x\n`,
    );
  }
}
