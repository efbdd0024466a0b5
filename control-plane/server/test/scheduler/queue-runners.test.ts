/**
 * The `queue` backend beyond the shared conformance suite: several runners never run a task
 * twice, a runner that stops answering has its tasks reported lost (naming it), and statuses a
 * runner could not write while the database was away are written once it is back.
 */
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it, vi } from "vitest";
import { pino } from "pino";
import {
  InstantScheduler,
  QueueRunner,
  QueueScheduler,
  type TaskStatusEvent,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import { testDatabases } from "../helpers/databases.js";
import { taskPlan } from "./conformance.js";

const logger = pino({ level: "silent" });
const postgres = (await testDatabases()).find((d) => d.name === "postgres");

describe.skipIf(!postgres)("queue scheduler with several runners", () => {
  const closers: Array<() => Promise<void>> = [];
  afterAll(async () => {
    for (const c of closers.reverse()) await c();
  });

  async function setup(runnerCount: number, runnerOpts: { heartbeatMs?: number } = {}) {
    const db: Database = await postgres!.open();
    closers.push(() => db.close());
    const runners = Array.from({ length: runnerCount }, (_v, i) => {
      const local = new InstantScheduler();
      const runner = new QueueRunner({
        db,
        logger,
        local,
        runnerId: `r${i}-${randomUUID().slice(0, 6)}`,
        capacity: 100,
        pollMs: 20,
        ...runnerOpts,
      });
      return { local, runner };
    });
    for (const r of runners) await r.runner.start();
    closers.push(async () => {
      for (const r of runners) await r.runner.stop();
    });
    const backend = new QueueScheduler({ db, logger, pollMs: 20, runnerTimeoutMs: 1_000 });
    closers.push(() => backend.close());
    const events: TaskStatusEvent[] = [];
    backend.watch((e) => events.push(e));
    return { db, runners, backend, events };
  }

  it("three runners racing for 60 tasks start each exactly once", async () => {
    const { runners, backend } = await setup(3);
    const plans = Array.from({ length: 60 }, () => taskPlan("http://127.0.0.1:9"));
    await Promise.all(plans.map((p) => backend.submit(p)));
    await vi.waitFor(
      () => {
        const total = runners.reduce((n, r) => n + r.local.submitted.size, 0);
        expect(total).toBe(60);
      },
      { timeout: 20_000, interval: 20 },
    );
    const owners = plans.map((p) => runners.filter((r) => r.local.submitted.has(p.taskId)).length);
    expect(owners.every((n) => n === 1)).toBe(true);
    // Spread over more than one runner.
    expect(runners.filter((r) => r.local.submitted.size > 0).length).toBeGreaterThan(1);
  });

  it("a runner without heartbeats has its tasks reported lost, naming it", async () => {
    const { runners, backend, events } = await setup(1, { heartbeatMs: 60_000 });
    const { local, runner } = runners[0]!;
    const p = taskPlan("http://127.0.0.1:9");
    await backend.submit(p);
    await vi.waitFor(() => expect(local.submitted.has(p.taskId)).toBe(true), { timeout: 10_000 });
    local.emit({ taskId: p.taskId, status: { state: "running", at: new Date().toISOString() } });
    await runner.stop(); // it stops beating; the task is held
    const lost = await vi.waitFor(
      () => {
        const e = events.find((x) => x.taskId === p.taskId && x.status.state === "lost");
        if (!e) throw new Error("not lost yet");
        return e;
      },
      { timeout: 20_000, interval: 50 },
    );
    expect(lost.status).toMatchObject({
      reason: expect.stringMatching(/runner r0-.* stopped answering/),
    });
  });

  it("a status the runner could not write while the database was away is written later", async () => {
    const db: Database = await postgres!.open();
    closers.push(() => db.close());
    let down = false;
    const flaky: Database = {
      kind: db.kind,
      query: async (sql, params) => {
        if (down) throw new Error("connect ECONNREFUSED");
        return db.query(sql, params);
      },
      transaction: (fn) => db.transaction(fn),
      close: async () => undefined,
    };
    const local = new InstantScheduler();
    const runner = new QueueRunner({ db: flaky, logger, local, runnerId: "flaky", pollMs: 20 });
    await runner.start();
    closers.push(() => runner.stop());
    const backend = new QueueScheduler({ db, logger, pollMs: 20 });
    closers.push(() => backend.close());
    const events: TaskStatusEvent[] = [];
    backend.watch((e) => events.push(e));
    const p = taskPlan("http://127.0.0.1:9");
    await backend.submit(p);
    await vi.waitFor(() => expect(local.submitted.has(p.taskId)).toBe(true), { timeout: 10_000 });
    down = true;
    local.emit({
      taskId: p.taskId,
      status: { state: "finished", at: new Date().toISOString(), exitCode: 0 },
    });
    await new Promise((r) => setTimeout(r, 300));
    expect(events.some((e) => e.taskId === p.taskId && e.status.state === "finished")).toBe(false);
    down = false;
    await vi.waitFor(
      () =>
        expect(events.some((e) => e.taskId === p.taskId && e.status.state === "finished")).toBe(
          true,
        ),
      { timeout: 10_000, interval: 20 },
    );
  });
});
