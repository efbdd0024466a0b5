import { randomUUID } from "node:crypto";
import { createServer, type Server, type Socket } from "node:net";
import { pino } from "pino";
import { afterEach, describe, expect, it, vi } from "vitest";
import {
  NomadClient,
  NomadErrorCode,
  jobSpecConfigSchema,
  type JobSpecConfigInput,
} from "@drover/nomad-jobs";
import { NomadTestServer, type NomadTestServerOptions } from "@drover/nomad-jobs/testing";
import {
  NomadScheduler,
  SchedulerUnavailableError,
  listDroverJobs,
  type TaskPlan,
  type TaskState,
  type TaskStatusEvent,
} from "@drover/control-plane";

const logger = pino({ level: "silent" });
const cleanups: Array<() => Promise<void>> = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!().catch(() => undefined);
});

function plan(over: Partial<TaskPlan> = {}): TaskPlan {
  const id = randomUUID();
  return {
    taskId: id,
    taskToken: `dtt_${randomUUID().replaceAll("-", "")}`,
    controlPlaneUrl: "http://127.0.0.1:8080",
    outputUrl: "http://127.0.0.1:8585",
    project: { slug: `gh/acme/${id.slice(0, 8)}`, name: "api" },
    pipeline: { id: randomUUID(), number: 7 },
    workflow: { id: randomUUID(), name: "build" },
    job: { id: randomUUID(), name: "test", number: 100, attempt: 1 },
    node: { index: 0, total: 1 },
    resourceClass: "small",
    executorType: "docker",
    sshEnabled: false,
    jobUrl: "http://127.0.0.1:8080/jobs/100",
    ...over,
  };
}

async function setup(serverOpts: NomadTestServerOptions = {}, spec: JobSpecConfigInput = {}) {
  const server = await NomadTestServer.start({ heartbeatMs: 100, ...serverOpts });
  const client = new NomadClient({
    address: server.url,
    retry: { maxRetries: 1, minDelayMs: 10, maxDelayMs: 20 },
    requestTimeoutMs: 2_000,
  });
  const backend = new NomadScheduler({
    client,
    spec: jobSpecConfigSchema.parse(spec),
    logger,
    ownsClient: true,
    stream: { minDelayMs: 10, maxDelayMs: 50 },
  });
  const events: TaskStatusEvent[] = [];
  backend.watch((e) => events.push(e));
  cleanups.push(async () => {
    await backend.close();
    await server.close();
  });
  return { server, client, backend, events };
}

const statesOf = (events: TaskStatusEvent[], taskId: string): TaskState[] =>
  events.filter((e) => e.taskId === taskId).map((e) => e.status);

const WAIT = { timeout: 10_000, interval: 10 };

/** The task's first state that matches, once the backend has emitted one. */
const reached = (
  events: TaskStatusEvent[],
  taskId: string,
  match: (s: TaskState) => boolean,
): Promise<TaskState> =>
  vi.waitFor(() => {
    const s = statesOf(events, taskId).find(match);
    if (!s)
      throw new Error(`${taskId}: no such state yet (${JSON.stringify(statesOf(events, taskId))})`);
    return s;
  }, WAIT);

describe("nomad scheduler backend", () => {
  it("submits a task as one Nomad job, however often it is submitted", async () => {
    const { server, client, backend, events } = await setup();
    const p = plan();
    await backend.submit(p);
    await backend.submit(p);
    await Promise.all([backend.submit(p), backend.submit(p)]);
    const jobId = backend.jobIdOf(p.taskId)!;
    expect(jobId).toBe(`drover-gh-acme-${p.project.slug.split("/")[2]}-7-test-100-1-0`);
    const jobs = await client.jobs.list({ prefix: "drover-" });
    expect(jobs.data.map((j) => j.ID)).toEqual([jobId]);
    expect(server.allocationsOf(jobId)).toHaveLength(1);
    expect(statesOf(events, p.taskId)).toEqual([{ state: "queued" }]);
    const job = await client.jobs.info(jobId);
    expect(job.data.TaskGroups?.[0]?.Tasks[0]?.Env?.DROVER_TASK_TOKEN).toBe(p.taskToken);
    expect(job.data.Meta?.drover_task_id).toBe(p.taskId);
  });

  it("maps allocation states: running with node and SSH port, then finished with the exit code", async () => {
    const { server, backend, events } = await setup();
    const p = plan({ sshEnabled: true });
    await backend.submit(p);
    const alloc = await server.waitForAllocation(backend.jobIdOf(p.taskId)!);
    server.runAllocation(alloc.ID);
    const running = await reached(events, p.taskId, (s) => s.state === "running");
    expect(running).toMatchObject({ state: "running", host: "127.0.0.1" });
    if (running.state !== "running") throw new Error("unreachable");
    expect(running.sshPort).toBeGreaterThanOrEqual(64535);
    server.completeAllocation(alloc.ID, 0);
    await reached(events, p.taskId, (s) => s.state === "finished");
    expect(statesOf(events, p.taskId).map((s) => s.state)).toEqual([
      "queued",
      "running",
      "finished",
    ]);
    expect(statesOf(events, p.taskId).at(-1)).toMatchObject({ state: "finished", exitCode: 0 });
  });

  it("reports failed and lost allocations as lost, with the reason from the task events", async () => {
    const { server, backend, events } = await setup();
    const failing = plan();
    const losing = plan();
    await backend.submit(failing);
    await backend.submit(losing);
    const a = await server.waitForAllocation(backend.jobIdOf(failing.taskId)!);
    const b = await server.waitForAllocation(backend.jobIdOf(losing.taskId)!);
    server.failAllocation(a.ID, {
      driverError: "Failed to pull `drover/build-agent:latest`: not found",
    });
    server.runAllocation(b.ID);
    server.loseAllocation(b.ID);
    const lostA = await reached(events, failing.taskId, (s) => s.state === "lost");
    const lostB = await reached(events, losing.taskId, (s) => s.state === "lost");
    expect(lostA.state === "lost" && lostA.reason).toContain("Driver Failure: Failed to pull");
    expect(lostB.state === "lost" && lostB.reason).toMatch(/lost/);
    // The replacement Nomad places for the lost allocation does not revive a final task.
    await new Promise((r) => setTimeout(r, 100));
    expect(statesOf(events, losing.taskId).map((s) => s.state)).toEqual([
      "queued",
      "running",
      "lost",
    ]);
  });

  it("cancel deregisters (the task finishes without exit code); cleanup purges; both are idempotent", async () => {
    const { server, client, backend, events } = await setup();
    const p = plan();
    await backend.submit(p);
    const jobId = backend.jobIdOf(p.taskId)!;
    const alloc = await server.waitForAllocation(jobId);
    server.runAllocation(alloc.ID);
    await reached(events, p.taskId, (s) => s.state === "running");
    await backend.cancel(p.taskId);
    await backend.cancel(p.taskId);
    expect((await client.jobs.info(jobId)).data.Stop).toBe(true);
    const done = await reached(events, p.taskId, (s) => s.state === "finished");
    expect(done).toMatchObject({ state: "finished", exitCode: null });
    await backend.cleanup(p.taskId);
    await backend.cleanup(p.taskId);
    await expect(client.jobs.info(jobId)).rejects.toMatchObject({ code: NomadErrorCode.NotFound });
    await backend.cancel(randomUUID());
    await backend.cleanup(randomUUID());
  });

  it("defers the purge of a task whose agent still runs until its allocation ends", async () => {
    const { server, client, backend, events } = await setup();
    const p = plan();
    await backend.submit(p);
    const jobId = backend.jobIdOf(p.taskId)!;
    const alloc = await server.waitForAllocation(jobId);
    server.runAllocation(alloc.ID);
    await reached(events, p.taskId, (s) => s.state === "running");
    await backend.cleanup(p.taskId);
    expect((await client.jobs.info(jobId)).data.Stop).toBe(false);
    expect(server.allocationsOf(jobId)[0]?.ClientStatus).toBe("running");
    server.completeAllocation(alloc.ID, 0);
    // Purged after the agent exited.
    await vi.waitFor(() => expect(server.state.job("default", jobId)).toBeUndefined(), WAIT);
    await expect(client.jobs.info(jobId)).rejects.toMatchObject({ code: NomadErrorCode.NotFound });
  });

  it("keeps delivering states across event stream disconnects", async () => {
    const { server, backend, events } = await setup();
    const p = plan();
    await backend.submit(p);
    const alloc = await server.waitForAllocation(backend.jobIdOf(p.taskId)!);
    const streams = (): number => server.requestCounts.get("GET /v1/event/stream") ?? 0;
    await vi.waitFor(() => expect(streams()).toBeGreaterThanOrEqual(1), WAIT);
    server.dropEventStreams();
    server.runAllocation(alloc.ID);
    await vi.waitFor(() => expect(streams()).toBeGreaterThanOrEqual(2), WAIT);
    server.dropEventStreams();
    server.completeAllocation(alloc.ID, 0);
    await reached(events, p.taskId, (s) => s.state === "finished");
    expect(statesOf(events, p.taskId).map((s) => s.state)).toEqual([
      "queued",
      "running",
      "finished",
    ]);
    expect(statesOf(events, p.taskId).at(-1)).toMatchObject({ state: "finished", exitCode: 0 });
    // The state may come from the resync on reconnect or from the resumed stream; either way
    // the stream resumes.
    await vi.waitFor(() => expect(streams()).toBeGreaterThanOrEqual(3), WAIT);
  });

  it("reconciles after a restart: adopts known jobs, purges unknown ones, reports missing tasks lost", async () => {
    const first = await setup();
    const keep = plan();
    const orphan = plan();
    await first.backend.submit(keep);
    await first.backend.submit(orphan);
    const keepJob = first.backend.jobIdOf(keep.taskId)!;
    const orphanJob = first.backend.jobIdOf(orphan.taskId)!;
    await first.backend.close();
    // While the control plane is down, the kept task starts running.
    const alloc = await first.server.waitForAllocation(keepJob);
    first.server.runAllocation(alloc.ID);

    const client = new NomadClient({ address: first.server.url });
    const second = new NomadScheduler({
      client,
      spec: jobSpecConfigSchema.parse({}),
      logger,
      ownsClient: true,
      stream: { minDelayMs: 10 },
    });
    cleanups.push(() => second.close());
    const events: TaskStatusEvent[] = [];
    second.watch((e) => events.push(e));
    const missing = randomUUID();
    await second.reconcile(new Set([keep.taskId, missing]));
    expect(statesOf(events, keep.taskId)[0]).toMatchObject({
      state: "running",
      host: "drover-test-node-0",
    });
    expect(statesOf(events, missing)[0]).toMatchObject({ state: "lost" });
    await expect(client.jobs.info(orphanJob)).rejects.toMatchObject({
      code: NomadErrorCode.NotFound,
    });
    expect((await client.jobs.info(keepJob)).data.Stop).toBe(false);
    // The adopted task keeps being watched.
    first.server.completeAllocation(alloc.ID, 0);
    await reached(events, keep.taskId, (s) => s.state === "finished");
  });

  it("fails fast with SchedulerUnavailableError when Nomad is down, and submits once it is back", async () => {
    const port = await freePort();
    const client = new NomadClient({
      address: `http://127.0.0.1:${port}`,
      retry: { maxRetries: 1, minDelayMs: 10, maxDelayMs: 20 },
    });
    const backend = new NomadScheduler({
      client,
      spec: jobSpecConfigSchema.parse({}),
      logger,
      ownsClient: true,
      stream: { minDelayMs: 10, maxDelayMs: 50 },
    });
    cleanups.push(() => backend.close());
    const events: TaskStatusEvent[] = [];
    backend.watch((e) => events.push(e));
    const p = plan();
    const started = Date.now();
    const err = await backend.submit(p).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SchedulerUnavailableError);
    expect((err as SchedulerUnavailableError).code).toBe("DROVER_ERR_SCHEDULER_UNAVAILABLE");
    expect(Date.now() - started).toBeLessThan(2_000);
    await expect(backend.cancel(p.taskId)).rejects.toBeInstanceOf(SchedulerUnavailableError);

    const server = await NomadTestServer.start({ port, heartbeatMs: 100 });
    cleanups.push(() => server.close());
    await backend.submit(p);
    const alloc = await server.waitForAllocation(backend.jobIdOf(p.taskId)!);
    server.runAllocation(alloc.ID);
    await reached(events, p.taskId, (s) => s.state === "running");
  });

  it("closes promptly while its event stream waits to retry an unreachable Nomad", async () => {
    const port = await freePort();
    const client = new NomadClient({
      address: `http://127.0.0.1:${port}`,
      retry: { maxRetries: 0 },
    });
    const backend = new NomadScheduler({
      client,
      spec: jobSpecConfigSchema.parse({}),
      logger,
      ownsClient: true,
    });
    backend.watch(() => undefined);
    await new Promise((r) => setTimeout(r, 200));
    const started = Date.now();
    await backend.close();
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it("defers reconciliation while Nomad is down and completes it when Nomad answers", async () => {
    const port = await freePort();
    const client = new NomadClient({
      address: `http://127.0.0.1:${port}`,
      retry: { maxRetries: 0 },
    });
    const backend = new NomadScheduler({
      client,
      spec: jobSpecConfigSchema.parse({}),
      logger,
      ownsClient: true,
      stream: { minDelayMs: 10, maxDelayMs: 50 },
    });
    cleanups.push(() => backend.close());
    const events: TaskStatusEvent[] = [];
    backend.watch((e) => events.push(e));
    const missing = randomUUID();
    await backend.reconcile(new Set([missing]));
    expect(events).toEqual([]);
    const server = await NomadTestServer.start({ port, heartbeatMs: 100 });
    cleanups.push(() => server.close());
    const lost = await reached(events, missing, () => true);
    expect(lost).toMatchObject({ state: "lost" });
  });

  it("does not hang when Nomad accepts connections but never answers", async () => {
    const sockets: Socket[] = [];
    const silent: Server = createServer((s) => sockets.push(s));
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    cleanups.push(async () => {
      sockets.forEach((s) => s.destroy());
      await new Promise<void>((r) => silent.close(() => r()));
    });
    const port = (silent.address() as { port: number }).port;
    const client = new NomadClient({
      address: `http://127.0.0.1:${port}`,
      requestTimeoutMs: 300,
      retry: { maxRetries: 0 },
    });
    const backend = new NomadScheduler({
      client,
      spec: jobSpecConfigSchema.parse({}),
      logger,
      ownsClient: true,
    });
    cleanups.push(() => backend.close());
    const started = Date.now();
    await expect(backend.submit(plan())).rejects.toBeInstanceOf(SchedulerUnavailableError);
    expect(Date.now() - started).toBeLessThan(3_000);
  });

  it("runs a task end to end through Nomad as a raw_exec process that gets only its token and URLs", async () => {
    const script = [
      "const keys = Object.keys(process.env).filter((k) => k.startsWith('DROVER_')).sort();",
      "console.log(keys.join(','));",
      "if (!process.env.DROVER_TASK_TOKEN.startsWith('dtt_')) process.exit(9);",
      "process.exit(Number(process.env.NOMAD_META_drover_job_number) === 100 ? 0 : 8);",
    ].join("\n");
    const { server, client, backend, events } = await setup(
      { execRawExec: true },
      { driver: "raw_exec", rawExec: { command: process.execPath, args: ["-e", script] } },
    );
    const p = plan();
    await backend.submit(p);
    const done = await reached(
      events,
      p.taskId,
      (s) => s.state === "finished" || s.state === "lost",
    );
    expect(done).toMatchObject({ state: "finished", exitCode: 0 });
    const alloc = server.allocationsOf(backend.jobIdOf(p.taskId)!)[0]!;
    const out = await client.logs.text(alloc.ID, { task: "agent", type: "stdout" });
    expect(out.trim()).toBe("DROVER_OUTPUT_URL,DROVER_TASK_TOKEN,DROVER_URL");

    const crashing = plan({ job: { id: randomUUID(), name: "crash", number: 5, attempt: 1 } });
    await backend.submit(crashing);
    const lost = await reached(events, crashing.taskId, (s) => s.state === "lost");
    expect(lost.state === "lost" && lost.reason).toContain("agent exited with code 8");
  });

  it("lists Drover's jobs for operators with allocation, node, status and Nomad UI links", async () => {
    const { server, client, backend } = await setup();
    const p = plan();
    await backend.submit(p);
    const jobId = backend.jobIdOf(p.taskId)!;
    const alloc = await server.waitForAllocation(jobId);
    const rows = await listDroverJobs(client);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      jobId,
      taskId: p.taskId,
      namespace: "default",
      project: p.project.slug,
      pipelineNumber: 7,
      jobName: "test",
      allocation: { id: alloc.ID, clientStatus: "pending", node: "drover-test-node-0" },
      links: {
        job: `${server.url}/ui/jobs/${jobId}@default`,
        allocation: `${server.url}/ui/allocations/${alloc.ID}`,
      },
    });
  });
});

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}
