/**
 * `npm run bench -- nomad [--tasks N] [--events N]`: the nomad scheduler backend against the
 * Nomad API test server (in a child process, so the server does not share our event loop).
 *
 * 1. Registrations: N task submissions through `NomadScheduler.submit` (concurrency 16), beside
 *    the goal (500/s) and beside raw undici PUTs of the same pre-built bodies (the floor any
 *    client pays: HTTP + the server).
 * 2. Drover's own overhead per submission: sequential submit latency minus that submission's
 *    HTTP round trip (the client's `onCall` wire time), p50/p99, beside the per-registration
 *    budget the goal leaves (2 ms); and the spec build + validation time alone.
 * 3. Event stream: allocation events for the submitted jobs, published by the server; the rate
 *    the backend consumes them (NDJSON decode, mapping, dedupe), beside the goal (20,000/s) and
 *    beside bare line splitting + JSON.parse of the same bytes.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createInterface } from "node:readline";
import process from "node:process";
import { pino } from "pino";
import { Pool } from "undici";
import { NomadScheduler, toTaskSpecInput, type TaskPlan } from "@drover/control-plane";
import { NomadClient, NdjsonDecoder, buildTaskJob, jobSpecConfigSchema } from "@drover/nomad-jobs";

const GOAL_REGISTRATIONS = 500;
const GOAL_EVENTS = 20_000;

const SERVER_SCRIPT = `
import { NomadTestServer } from "@drover/nomad-jobs/testing";
import { createInterface } from "node:readline";
const server = await NomadTestServer.start({ heartbeatMs: 1000 });
process.stdout.write(JSON.stringify({ url: server.url }) + "\\n");
for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line);
  if (cmd.cmd === "publish") {
    const allocs = cmd.jobIds.flatMap((id) => server.allocationsOf(id));
    const events = [];
    for (let i = 0; events.length < cmd.count; i++) events.push(allocs[i % allocs.length]);
    const started = performance.now();
    server.publishAllocationEvents(events, cmd.perBatch);
    process.stdout.write(JSON.stringify({ published: events.length, ms: performance.now() - started }) + "\\n");
  }
  if (cmd.cmd === "purge") {
    for (const [k] of server.state.jobs) server.state.jobs.delete(k);
    server.state.allocs.clear();
    process.stdout.write(JSON.stringify({ purged: true }) + "\\n");
  }
}
`;

class ServerProcess {
  readonly #proc: ChildProcess;
  readonly #lines: AsyncIterator<string>;

  private constructor(proc: ChildProcess) {
    this.#proc = proc;
    this.#lines = createInterface({ input: proc.stdout! })[Symbol.asyncIterator]();
  }

  static async start(): Promise<{ server: ServerProcess; url: string }> {
    const proc = spawn(process.execPath, ["--input-type=module", "-e", SERVER_SCRIPT], {
      stdio: ["pipe", "pipe", "inherit"],
    });
    const server = new ServerProcess(proc);
    const { url } = (await server.read()) as { url: string };
    return { server, url };
  }

  async read(): Promise<unknown> {
    const next = await this.#lines.next();
    if (next.done) throw new Error("test server process exited");
    return JSON.parse(next.value);
  }

  async send(cmd: unknown): Promise<unknown> {
    this.#proc.stdin!.write(`${JSON.stringify(cmd)}\n`);
    return this.read();
  }

  stop(): void {
    this.#proc.kill();
  }
}

function plan(i: number, run: string): TaskPlan {
  return {
    taskId: randomUUID(),
    taskToken: `dtt_${randomUUID().replaceAll("-", "")}`,
    controlPlaneUrl: "http://127.0.0.1:8080",
    outputUrl: "http://127.0.0.1:8585",
    project: { slug: `gh/bench/${run}`, name: "bench" },
    pipeline: { id: randomUUID(), number: 1 + Math.floor(i / 10) },
    workflow: { id: randomUUID(), name: "build" },
    job: { id: randomUUID(), name: `job-${i % 10}`, number: i, attempt: 1 },
    node: { index: 0, total: 1 },
    resourceClass: ["small", "medium", "large"][i % 3]!,
    executorType: "docker",
    sshEnabled: i % 4 === 0,
    jobUrl: `http://127.0.0.1:8080/jobs/${i}`,
  };
}

function pct(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

async function pooled<T>(
  items: T[],
  concurrency: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < items.length) await fn(items[next++]!);
    }),
  );
}

function arg(args: string[], name: string, fallback: number): number {
  const i = args.indexOf(name);
  return i >= 0 ? Number(args[i + 1]) : fallback;
}

const f1 = (n: number): string => n.toFixed(1);
const f3 = (n: number): string => n.toFixed(3);

export async function run(args: string[]): Promise<void> {
  const tasks = arg(args, "--tasks", 1000);
  const eventCount = arg(args, "--events", 100_000);
  const logger = pino({ level: "silent" });
  const spec = jobSpecConfigSchema.parse({});
  const { server, url } = await ServerProcess.start();
  let wire = 0;
  const client = new NomadClient(
    { address: url, connections: 16 },
    { onCall: ({ path, wireMs }) => path === "/v1/jobs" && (wire = wireMs) },
  );
  const backend = new NomadScheduler({ client, spec, logger, ownsClient: true });
  backend.watch(() => undefined);
  const raw = new Pool(url, { connections: 16 });
  try {
    // Warm up connections, JIT and the event stream.
    await pooled(
      Array.from({ length: 50 }, (_, i) => plan(i, "warmup")),
      16,
      (p) => backend.submit(p),
    );

    // 1. Throughput: two rounds, the order of backend and raw alternating (the first phase
    // after warm-up runs on a colder server), each figure the mean of its rounds.
    const runId = randomUUID().slice(0, 8);
    const backendPhase = async (round: number): Promise<number> => {
      const plans = Array.from({ length: tasks }, (_, i) => plan(i, `tput-${runId}-${round}`));
      const t0 = performance.now();
      await pooled(plans, 16, (p) => backend.submit(p));
      if (round === 0) firstPlans = plans;
      return tasks / ((performance.now() - t0) / 1000);
    };
    const rawPhase = async (round: number): Promise<number> => {
      const bodies = Array.from({ length: tasks }, (_, i) =>
        JSON.stringify({
          Job: buildTaskJob(toTaskSpecInput(plan(i, `raw-${runId}-${round}`)), spec).Job,
          EnforceIndex: true,
          JobModifyIndex: 0,
        }),
      );
      const t0 = performance.now();
      await pooled(bodies, 16, async (body) => {
        const res = await raw.request({
          method: "PUT",
          path: "/v1/jobs",
          body,
          headers: { "content-type": "application/json" },
        });
        await res.body.text();
      });
      return tasks / ((performance.now() - t0) / 1000);
    };
    let firstPlans: TaskPlan[] = [];
    const backendRates: number[] = [];
    const rawRates: number[] = [];
    backendRates.push(await backendPhase(0));
    rawRates.push(await rawPhase(0));
    rawRates.push(await rawPhase(1));
    backendRates.push(await backendPhase(1));
    const mean = (a: number[]): number => a.reduce((x, y) => x + y, 0) / a.length;
    const droverRate = mean(backendRates);
    const rawRate = mean(rawRates);
    const plans = firstPlans;

    // 2. Overhead, sequential.
    const seqN = Math.min(tasks, 1000);
    const seqPlans = Array.from({ length: seqN }, (_, i) => plan(i, `seq-${runId}`));
    const droverLat: number[] = [];
    const overhead: number[] = [];
    for (const p of seqPlans) {
      const s = performance.now();
      await backend.submit(p);
      const total = performance.now() - s;
      droverLat.push(total);
      overhead.push(total - wire);
    }
    const seqBodies = Array.from({ length: seqN }, (_, i) =>
      JSON.stringify({
        Job: buildTaskJob(toTaskSpecInput(plan(i, `seqraw-${runId}`)), spec).Job,
        EnforceIndex: true,
        JobModifyIndex: 0,
      }),
    );
    const rawLat: number[] = [];
    for (const body of seqBodies) {
      const s = performance.now();
      const res = await raw.request({
        method: "PUT",
        path: "/v1/jobs",
        body,
        headers: { "content-type": "application/json" },
      });
      await res.body.text();
      rawLat.push(performance.now() - s);
    }
    const buildLat: number[] = [];
    for (let i = 0; i < seqN; i++) {
      const p = plan(i, `build-${runId}`);
      const s = performance.now();
      JSON.stringify(buildTaskJob(toTaskSpecInput(p), spec));
      buildLat.push(performance.now() - s);
    }
    for (const a of [droverLat, rawLat, buildLat, overhead]) a.sort((x, y) => x - y);

    // 3. Event stream processing.
    const jobIds = plans.slice(0, 200).map((p) => backend.jobIdOf(p.taskId)!);
    const before = backend.eventsProcessed;
    let t0 = performance.now();
    const pub = (await server.send({
      cmd: "publish",
      jobIds,
      count: eventCount,
      perBatch: 100,
    })) as { ms: number };
    const deadline = Date.now() + 90_000;
    while (backend.eventsProcessed - before < eventCount && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 5));
    }
    const got = backend.eventsProcessed - before;
    const eventSecs = (performance.now() - t0) / 1000;
    const eventRate = got / eventSecs;

    // Peer: bare NDJSON split + JSON.parse of equivalent bytes.
    const sample = await client.allocations.info(
      server ? (await client.jobs.allocations(jobIds[0]!)).data[0]!.ID : "",
    );
    const { Job: _job, ...allocPayload } = sample.data;
    const line = `${JSON.stringify({
      Index: 1,
      Events: Array.from({ length: 100 }, (_, i) => ({
        Topic: "Allocation",
        Type: "AllocationUpdated",
        Key: allocPayload.ID,
        Namespace: "default",
        FilterKeys: [allocPayload.JobID, ""],
        Index: i,
        Payload: { Allocation: allocPayload },
      })),
    })}\n`;
    const bytes = Buffer.from(line.repeat(Math.ceil(eventCount / 100)));
    t0 = performance.now();
    const dec = new NdjsonDecoder();
    let parsed = 0;
    for (let i = 0; i < bytes.length; i += 64 * 1024) {
      for (const v of dec.push(bytes.subarray(i, i + 64 * 1024)))
        parsed += (v as { Events: unknown[] }).Events.length;
    }
    const parseRate = parsed / ((performance.now() - t0) / 1000);

    const out = (s: string): boolean => process.stdout.write(`${s}\n`);
    out(`tasks submitted: ${tasks} x 2 rounds (concurrency 16), server in a child process`);
    out(
      `registrations/s through the backend: ${f1(droverRate)} (rounds ${backendRates.map(f1).join(", ")})  | goal ${GOAL_REGISTRATIONS}/s -> ratio ${f3(droverRate / GOAL_REGISTRATIONS)}`,
    );
    out(
      `raw undici PUT /v1/jobs (same server, same bodies): ${f1(rawRate)}/s (rounds ${rawRates.map(f1).join(", ")}) -> backend/raw ratio ${f3(droverRate / rawRate)}`,
    );
    out(
      `sequential submit latency ms: p50 ${f3(pct(droverLat, 50))} p99 ${f3(pct(droverLat, 99))}  | raw PUT p50 ${f3(pct(rawLat, 50))} p99 ${f3(pct(rawLat, 99))}`,
    );
    out(
      `Drover's own overhead per submit ms (submit minus its HTTP round trip): p50 ${f3(pct(overhead, 50))} p99 ${f3(pct(overhead, 99))}  | budget at 500/s: ${f3(1000 / GOAL_REGISTRATIONS)} ms -> p99/budget ${f3(pct(overhead, 99) / (1000 / GOAL_REGISTRATIONS))}`,
    );
    out(
      `of which spec build + validation ms: p50 ${f3(pct(buildLat, 50))} p99 ${f3(pct(buildLat, 99))}`,
    );
    out(
      `event stream: ${got}/${eventCount} allocation events processed in ${f3(eventSecs)}s (server published in ${f1(pub.ms)}ms)`,
    );
    out(
      `events/s through the backend: ${f1(eventRate)}  | goal ${GOAL_EVENTS}/s -> ratio ${f3(eventRate / GOAL_EVENTS)}`,
    );
    out(
      `bare NDJSON split + JSON.parse of the same payloads: ${f1(parseRate)} events/s -> backend/parse ratio ${f3(eventRate / parseRate)}`,
    );
  } finally {
    await raw.destroy();
    await backend.close();
    server.stop();
  }
}
