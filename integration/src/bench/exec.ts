/**
 * `npm run bench -- exec [--rounds N] [--concurrency N]`: the docker executor against plain Docker.
 * 1. A one-step job (`true`) on drover/ci-base through the agent's runner and docker executor
 *    (setup, step, teardown) vs `docker run --rm drover/ci-base true`, interleaved; median ratio
 *    (goal <= 1.5x).
 * 2. N concurrent jobs (default 20) finish without error; wall time beside N concurrent docker runs.
 * 3. The agent process's peak memory (VmHWM) for one job, claimed from a minimal task API, beside a
 *    limit, and its end-to-end time beside `docker run`.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { createRequire } from "node:module";
import path from "node:path";
import process from "node:process";
import { pino } from "pino";
import {
  DockerExecutor,
  MemorySink,
  Runner,
  defaultExecutorConfig,
  dockerClient,
  parseImageAliases,
} from "@drover/build-agent";
import type { TaskEvent, TaskSpec } from "@drover/task-api";

const IMAGE = "drover/ci-base";
const MEMORY_LIMIT_MIB = 256;

function task(): TaskSpec {
  return {
    taskId: `bench-${randomUUID()}`,
    attempt: 1,
    node: { index: 0, total: 1 },
    project: { slug: "gh/bench/exec", org: "bench", repo: "exec", gitUrl: "file:///dev/null" },
    pipeline: { id: randomUUID(), number: 1, branch: "main", revision: "0".repeat(40) },
    workflow: { id: randomUUID(), name: "bench" },
    job: { id: randomUUID(), name: "bench", number: 1, url: "http://127.0.0.1/bench" },
    executor: { type: "docker", images: [{ image: IMAGE, environment: {} }] },
    steps: [
      {
        type: "run",
        name: "true",
        when: "on_success",
        command: "true",
        environment: {},
        background: false,
        noOutputTimeoutMs: 600_000,
      },
    ],
    workingDirectory: "~/project",
    resourceClass: "small",
    environment: { project: {}, contexts: {}, job: {} },
    secrets: [],
    ssh: { enabled: false, authorizedKeys: [] },
    output: { url: "ws://127.0.0.1:1", token: "unused" },
  };
}

const docker = dockerClient({ socketPath: "/var/run/docker.sock" });
const logger = pino({ level: "silent" });
const config = defaultExecutorConfig({ aliases: parseImageAliases("") });

/** One job through the runner and executor, teardown included; throws unless it succeeded. */
async function agentJob(): Promise<number> {
  const t0 = performance.now();
  const spec = task();
  const executor = new DockerExecutor(docker, spec, config);
  const events: TaskEvent[] = [];
  try {
    const outcome = await new Runner({
      task: spec,
      executor,
      storage: undefined as never, // a `run`-only job never touches storage
      sendEvents: async (e) => {
        events.push(...e);
      },
      sink: new MemorySink(),
      logger,
      signal: new AbortController().signal,
    }).run();
    if (outcome.result !== "success")
      throw new Error(`job ended ${outcome.result}: ${outcome.message ?? ""}`);
  } finally {
    await executor.destroy();
  }
  return performance.now() - t0;
}

function dockerRun(): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn("docker", ["run", "--rm", IMAGE, "true"], { stdio: "ignore" });
    child.on("error", reject);
    child.on("exit", (code) =>
      code === 0 ? resolve(performance.now() - t0) : reject(new Error(`docker run exited ${code}`)),
    );
  });
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
};
const ms = (x: number): string => `${x.toFixed(0)} ms`;

function arg(args: string[], name: string, def: number): number {
  const i = args.indexOf(name);
  const v = i >= 0 ? Number(args[i + 1]) : def;
  return Number.isFinite(v) && v > 0 ? v : def;
}

/** Runs the real agent process on one job against a task API that knows only claim and events. */
async function agentProcess(): Promise<{
  wallMs: number;
  peakKiB: number;
  exitCode: number | null;
}> {
  const spec = task();
  const token = randomUUID();
  const session = randomUUID();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/internal/v1/tasks/claim") {
        const body = JSON.parse(Buffer.concat(chunks).toString()) as { token: string };
        res.writeHead(body.token === token ? 200 : 401, { "content-type": "application/json" });
        res.end(JSON.stringify({ task: spec, session }));
      } else {
        res.writeHead(req.headers.authorization === `Bearer ${session}` ? 204 : 401);
        res.end();
      }
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const require = createRequire(import.meta.url);
  const bin = path.join(
    path.dirname(require.resolve("@drover/build-agent/package.json")),
    "bin",
    "drover-agent.js",
  );
  const t0 = performance.now();
  const child = spawn(process.execPath, [bin], {
    env: {
      ...process.env,
      DROVER_TASK_TOKEN: token,
      DROVER_URL: url,
      DROVER_OUTPUT: "stdout",
      DROVER_LOG_LEVEL: "error",
    },
    stdio: ["ignore", "ignore", "inherit"],
  });
  let peakKiB = 0;
  const sample = setInterval(() => {
    try {
      const m = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${child.pid}/status`, "utf8"));
      if (m) peakKiB = Math.max(peakKiB, Number(m[1]));
    } catch {
      // exited between samples
    }
  }, 5);
  const exitCode = await new Promise<number | null>((r) => child.on("exit", r));
  clearInterval(sample);
  const wallMs = performance.now() - t0;
  server.close();
  return { wallMs, peakKiB, exitCode };
}

export async function run(args: string[]): Promise<void> {
  const rounds = arg(args, "--rounds", 10);
  const concurrency = arg(args, "--concurrency", 20);
  await docker.ping();
  await agentJob();
  await dockerRun();

  const a: number[] = [];
  const d: number[] = [];
  for (let i = 0; i < rounds; i++) {
    if (i % 2 === 0) {
      a.push(await agentJob());
      d.push(await dockerRun());
    } else {
      d.push(await dockerRun());
      a.push(await agentJob());
    }
  }
  const ratio = median(a) / median(d);
  process.stdout.write(
    `one-step job, median of ${rounds} interleaved: agent ${ms(median(a))} vs docker run --rm ${ms(median(d))}: ` +
      `ratio ${ratio.toFixed(2)}x (goal <= 1.5x) ${ratio <= 1.5 ? "OK" : "OVER"}\n`,
  );

  const t1 = performance.now();
  const results = await Promise.allSettled(Array.from({ length: concurrency }, () => agentJob()));
  const agentWall = performance.now() - t1;
  const errors = results.filter((r) => r.status === "rejected");
  const t2 = performance.now();
  const peers = await Promise.allSettled(Array.from({ length: concurrency }, () => dockerRun()));
  const dockerWall = performance.now() - t2;
  process.stdout.write(
    `${concurrency} concurrent jobs: ${concurrency - errors.length}/${concurrency} succeeded in ${ms(agentWall)} vs ` +
      `${peers.filter((p) => p.status === "fulfilled").length}/${concurrency} docker runs in ${ms(dockerWall)}: ` +
      `ratio ${(agentWall / dockerWall).toFixed(2)}x\n`,
  );
  for (const e of errors.slice(0, 3)) {
    process.stdout.write(`  error: ${(e as PromiseRejectedResult).reason}\n`);
  }

  const p = await agentProcess();
  const single = await dockerRun();
  process.stdout.write(
    `agent process (claim + job + report, exit ${p.exitCode}): peak RSS ${(p.peakKiB / 1024).toFixed(1)} MiB ` +
      `vs limit ${MEMORY_LIMIT_MIB} MiB: ${(p.peakKiB / 1024 / MEMORY_LIMIT_MIB).toFixed(2)}x; ` +
      `wall ${ms(p.wallMs)} vs docker run --rm ${ms(single)}: ${(p.wallMs / single).toFixed(2)}x\n`,
  );
  if (errors.length > 0 || p.exitCode !== 0) process.exitCode = 1;
}
