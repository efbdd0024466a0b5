import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  addSshKey,
  createUser,
  InstantScheduler,
  listJobs,
  TaskService,
  WorkflowEngine,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import { openDatabase } from "@drover/control-plane/db";
import { testDatabases } from "../helpers/databases.js";
import { harness, logger, type Harness } from "../helpers/harness.js";
import { job, plan } from "../helpers/plans.js";

const dbs = await testDatabases();

describe.each(dbs)("workflow engine ($name)", ({ open, name: dbName }) => {
  let db: Database;
  let h: Harness;
  beforeAll(async () => {
    db = await open();
    h = await harness(db);
  });
  afterAll(async () => {
    await h.engine.stop();
    await db.close();
  });

  it("queues jobs as their requirements succeed and ends in success", async () => {
    const changes: string[] = [];
    const unsubscribe = h.engine.onWorkflowChange((e) => changes.push(e.workflowId));
    const { workflowIds } = await h.run(
      plan({
        name: "build",
        jobs: [job("a"), job("b", { requires: ["a"] }), job("c", { requires: ["a", "b"] })],
      }),
    );
    const wf = workflowIds[0] ?? "";
    expect(await h.statuses(wf)).toEqual({
      a: "queued",
      b: "blocked",
      c: "blocked",
      "(workflow)": "running",
    });
    const [spec] = await h.finishJob(wf, "a");
    expect(spec?.job.name).toBe("a");
    expect(spec?.environment).toEqual({ project: {}, contexts: {}, job: { JOB: "a" } });
    expect(spec?.secrets).toEqual([]);
    expect(spec?.output.token).toBe(`out-${spec?.taskId}`);
    expect(await h.statuses(wf)).toMatchObject({ a: "success", b: "queued", c: "blocked" });
    await h.finishJob(wf, "b");
    await h.finishJob(wf, "c");
    expect(await h.statuses(wf)).toEqual({
      a: "success",
      b: "success",
      c: "success",
      "(workflow)": "success",
    });
    unsubscribe();
    // Created, then each of a, b, c claimed and finished: every commit is announced.
    expect(changes.length).toBeGreaterThanOrEqual(7);
    expect(new Set(changes)).toEqual(new Set([wf]));
    const jobs = await listJobs(db, wf);
    const numbers = jobs.map((j) => j.number ?? 0);
    expect(new Set(numbers).size).toBe(3);
    expect(jobs.every((j) => j.stoppedAt && j.startedAt && j.queuedAt)).toBe(true);
  });

  it("marks dependants of a failed job not_run, is failing while others run, then failed", async () => {
    const { workflowIds } = await h.run(
      plan({
        name: "w",
        jobs: [
          job("a"),
          job("b", { requires: ["a"] }),
          job("c", { requires: ["b"] }),
          job("d"),
          job("cleanup", { requires: [{ job: "a", statuses: ["failed"] }] }),
        ],
      }),
    );
    const wf = workflowIds[0] ?? "";
    await h.finishJob(wf, "a", "failed");
    expect(await h.statuses(wf)).toEqual({
      a: "failed",
      b: "not_run",
      c: "not_run",
      d: "queued",
      cleanup: "queued",
      "(workflow)": "failing",
    });
    await h.finishJob(wf, "cleanup");
    await h.finishJob(wf, "d");
    expect((await h.statuses(wf))["(workflow)"]).toBe("failed");
  });

  it("holds approval jobs until approved", async () => {
    const approver = await createUser(db, { login: `approver-${dbName}`, role: "member" });
    const { workflowIds } = await h.run(
      plan({
        name: "deploy",
        jobs: [
          job("build"),
          job("hold", { type: "approval", requires: ["build"] }),
          job("ship", { requires: ["hold"] }),
        ],
      }),
    );
    const wf = workflowIds[0] ?? "";
    await h.finishJob(wf, "build");
    expect(await h.statuses(wf)).toEqual({
      build: "success",
      hold: "on_hold",
      ship: "blocked",
      "(workflow)": "on_hold",
    });
    const hold = (await listJobs(db, wf)).find((j) => j.name === "hold");
    expect(hold?.number).toBeNull();
    await expect(
      h.engine.approve(wf, "00000000-0000-0000-0000-000000000000", approver.id),
    ).rejects.toMatchObject({
      code: "DROVER_ERR_NOT_FOUND",
    });
    await h.engine.approve(wf, hold?.id ?? "", approver.id);
    await expect(h.engine.approve(wf, hold?.id ?? "", approver.id)).rejects.toMatchObject({
      code: "DROVER_ERR_INVALID_STATE",
    });
    expect(await h.statuses(wf)).toMatchObject({
      hold: "success",
      ship: "queued",
      "(workflow)": "running",
    });
    const approved = (await listJobs(db, wf)).find((j) => j.name === "hold");
    expect(approved?.approvedBy).toBe(approver.id);
    const audit = async (id: string) =>
      (
        await db.query<{ action: string; actor_id: string }>(
          "SELECT action, actor_id FROM audit_events WHERE target->>'id' = $1 ORDER BY occurred_at",
          [id],
        )
      ).rows;
    expect(await audit(hold?.id ?? "")).toEqual([
      { action: "workflow.job.approve", actor_id: approver.id },
    ]);
    const build = (await listJobs(db, wf)).find((j) => j.name === "build");
    expect((await audit(build?.id ?? "")).map((r) => r.action)).toEqual([
      "workflow.job.scheduled",
      "workflow.job.start",
      "workflow.job.finish",
    ]);
    await h.finishJob(wf, "ship");
    expect((await h.statuses(wf))["(workflow)"]).toBe("success");
  });

  it("cancels running and waiting jobs, stops tasks and refuses late results", async () => {
    const { workflowIds } = await h.run(
      plan({
        name: "w",
        jobs: [job("a"), job("b", { requires: ["a"] }), job("gate", { type: "approval" })],
      }),
    );
    const wf = workflowIds[0] ?? "";
    await h.engine.idle();
    const [t] = h.submittedFor(wf, "a");
    const { session } = await h.tasks.claim(t?.taskToken ?? "");
    await h.engine.cancelWorkflow(wf, null);
    expect(await h.statuses(wf)).toEqual({
      a: "canceled",
      b: "canceled",
      gate: "canceled",
      "(workflow)": "canceled",
    });
    expect(h.scheduler.canceled.has(t?.taskId ?? "")).toBe(true);
    expect(await h.tasks.authenticate(t?.taskId ?? "", session)).toBeNull();
    await h.tasks.events(t?.taskId ?? "", [
      { type: "task_finished", result: "success", at: new Date().toISOString() },
    ]);
    expect((await h.statuses(wf)).a).toBe("canceled");
  });

  it("cancels one job: its dependants are not_run and the workflow ends canceled", async () => {
    const { workflowIds } = await h.run(
      plan({ name: "w", jobs: [job("a"), job("b", { requires: ["a"] })] }),
    );
    const wf = workflowIds[0] ?? "";
    const a = (await listJobs(db, wf)).find((j) => j.name === "a");
    await h.engine.cancelJob(a?.id ?? "", null);
    expect(await h.statuses(wf)).toEqual({ a: "canceled", b: "not_run", "(workflow)": "canceled" });
  });

  it("runs parallelism N as N tasks and fails the job if one node fails", async () => {
    const { workflowIds } = await h.run(
      plan({ name: "w", jobs: [job("tests", { parallelism: 3 })] }),
    );
    const wf = workflowIds[0] ?? "";
    await h.engine.idle();
    const tasks = h.submittedFor(wf, "tests");
    expect(tasks.map((t) => t.node).sort((x, y) => x.index - y.index)).toEqual([
      { index: 0, total: 3 },
      { index: 1, total: 3 },
      { index: 2, total: 3 },
    ]);
    const specs: string[] = [];
    for (const [i, t] of tasks.entries()) {
      const { task } = await h.tasks.claim(t.taskToken);
      specs.push(`${task.node.index}/${task.node.total}`);
      await h.tasks.events(t.taskId, [
        {
          type: "task_finished",
          result: i === 1 ? "failed" : "success",
          at: new Date().toISOString(),
        },
      ]);
      if (i < 2) expect((await h.statuses(wf)).tests).toBe("running");
    }
    expect(specs.sort()).toEqual(["0/3", "1/3", "2/3"]);
    expect(await h.statuses(wf)).toEqual({ tests: "failed", "(workflow)": "failed" });
  });

  it("makes task tokens single use and expiring", async () => {
    const { workflowIds } = await h.run(plan({ name: "w", jobs: [job("a"), job("b")] }));
    const wf = workflowIds[0] ?? "";
    await h.engine.idle();
    const [a] = h.submittedFor(wf, "a");
    const [b] = h.submittedFor(wf, "b");
    await h.tasks.claim(a?.taskToken ?? "");
    await expect(h.tasks.claim(a?.taskToken ?? "")).rejects.toMatchObject({
      code: "DROVER_ERR_TASK_TOKEN",
    });
    await expect(h.tasks.claim("dtt_unknown")).rejects.toMatchObject({
      code: "DROVER_ERR_TASK_TOKEN",
    });
    const row = await db.query<{ token_hash: string; ttl: number }>(
      "SELECT token_hash, extract(epoch FROM token_expires_at - submitted_at)::int AS ttl FROM tasks WHERE id = $1",
      [b?.taskId],
    );
    expect(row.rows[0]?.token_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(row.rows[0]?.token_hash).not.toContain(b?.taskToken ?? "x");
    expect(Math.abs((row.rows[0]?.ttl ?? 0) - 600)).toBeLessThanOrEqual(1);
    await db.query(
      "UPDATE tasks SET token_expires_at = now() - interval '1 second' WHERE id = $1",
      [b?.taskId],
    );
    await expect(h.tasks.claim(b?.taskToken ?? "")).rejects.toMatchObject({
      code: "DROVER_ERR_TASK_TOKEN",
    });
    await h.engine.tick();
    expect((await h.statuses(wf)).b).toBe("infrastructure_fail");
    expect(h.scheduler.canceled.has(b?.taskId ?? "")).toBe(true);
    await h.tasks.events(a?.taskId ?? "", [
      { type: "task_finished", result: "success", at: new Date().toISOString() },
    ]);
    expect((await h.statuses(wf))["(workflow)"]).toBe("error");
  });

  it("fails a task the backend lost or whose agent exited without a result", async () => {
    const { workflowIds } = await h.run(plan({ name: "w", jobs: [job("a"), job("b")] }));
    const wf = workflowIds[0] ?? "";
    await h.engine.idle();
    const [a] = h.submittedFor(wf, "a");
    const [b] = h.submittedFor(wf, "b");
    h.scheduler.emit({
      taskId: a?.taskId ?? "",
      status: { state: "lost", at: "", reason: "node died" },
    });
    h.scheduler.emit({
      taskId: b?.taskId ?? "",
      status: { state: "finished", at: "", exitCode: 3 },
    });
    await h.engine.idle();
    expect(await h.statuses(wf)).toEqual({
      a: "infrastructure_fail",
      b: "infrastructure_fail",
      "(workflow)": "error",
    });
    const msg = await db.query<{ message: string }>("SELECT message FROM tasks WHERE id = $1", [
      b?.taskId,
    ]);
    expect(msg.rows[0]?.message).toMatch(/exited \(code 3\) without reporting/);
  });

  it("reruns a workflow whole, from failed, and selected jobs with SSH", async () => {
    const user = await createUser(db, { login: `sshuser-${dbName}`, role: "member" });
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGyHnTz4w0hZ8kqZr8Y7x9cW0Jp0bJmQy1pKx6u9m1aB";
    await addSshKey(db, { userId: user.id, title: "k", publicKey: key, fingerprint: "fp" });
    const p = plan({
      name: "w",
      jobs: [job("a"), job("b", { requires: ["a"] }), job("c"), job("d", { requires: ["b"] })],
    });
    const { workflowIds } = await h.run(p);
    const wf = workflowIds[0] ?? "";
    await expect(h.engine.rerun(wf, {}, null)).rejects.toMatchObject({
      code: "DROVER_ERR_INVALID_STATE",
    });
    await h.finishJob(wf, "a");
    await h.finishJob(wf, "c");
    await h.finishJob(wf, "b", "failed");
    expect(await h.statuses(wf)).toMatchObject({
      b: "failed",
      d: "not_run",
      "(workflow)": "failed",
    });

    const whole = await h.engine.rerun(wf, {}, user.id);
    expect(await h.statuses(whole)).toEqual({
      a: "queued",
      b: "blocked",
      c: "queued",
      d: "blocked",
      "(workflow)": "running",
    });

    const fromFailed = await h.engine.rerun(wf, { fromFailed: true }, user.id);
    expect(await h.statuses(fromFailed)).toEqual({
      b: "queued",
      d: "blocked",
      "(workflow)": "running",
    });
    const original = await listJobs(db, wf);
    const rerunJobs = await listJobs(db, fromFailed);
    const id = (jobs: typeof original, name: string) => jobs.find((j) => j.name === name)?.id;
    // Workspace upstream of the rerun's d: the rerun's b, then the original a it did not copy.
    expect(await h.tasks.upstreamJobIds(id(rerunJobs, "d") ?? "")).toEqual([
      id(rerunJobs, "b"),
      id(original, "a"),
    ]);
    expect(await h.tasks.upstreamJobIds(id(original, "c") ?? "")).toEqual([]);
    await h.finishJob(fromFailed, "b");
    await h.finishJob(fromFailed, "d");
    expect((await h.statuses(fromFailed))["(workflow)"]).toBe("success");

    const jobs = await listJobs(db, wf);
    const b = jobs.find((j) => j.name === "b");
    await expect(h.engine.rerun(wf, { enableSsh: true }, user.id)).rejects.toMatchObject({
      code: "DROVER_ERR_VALIDATION",
    });
    await expect(
      h.engine.rerun(wf, { fromFailed: true, jobs: [b?.id ?? ""] }, user.id),
    ).rejects.toMatchObject({
      code: "DROVER_ERR_VALIDATION",
    });
    await expect(
      h.engine.rerun(wf, { jobs: ["00000000-0000-0000-0000-000000000000"] }, user.id),
    ).rejects.toMatchObject({
      code: "DROVER_ERR_VALIDATION",
    });
    const ssh = await h.engine.rerun(wf, { enableSsh: true, jobs: [b?.id ?? ""] }, user.id);
    const sshJobs = await listJobs(db, ssh);
    expect(sshJobs.map((j) => [j.name, j.status, j.enableSsh])).toEqual([
      ["b", "queued", true],
      ["d", "blocked", false],
    ]);
    expect(sshJobs[0]?.rerunOf).toBe(b?.id);
    expect(sshJobs[0]?.number).not.toBe(b?.number);
    await h.engine.idle();
    const [t] = h.submittedFor(ssh, "b");
    expect(t?.sshEnabled).toBe(true);
    const { task } = await h.tasks.claim(t?.taskToken ?? "");
    expect(task.ssh).toEqual({ enabled: true, authorizedKeys: [key] });

    const sparse = await h.engine.rerun(wf, { jobs: [b?.id ?? ""], sparseTree: true }, user.id);
    expect(await h.statuses(sparse)).toEqual({ b: "queued", "(workflow)": "running" });
  });

  it("never queues a job twice under concurrent advances", async () => {
    const { workflowIds } = await h.run(
      plan({ name: "w", jobs: [job("a"), job("b", { requires: ["a"] })] }),
    );
    const wf = workflowIds[0] ?? "";
    await Promise.all(Array.from({ length: 8 }, () => h.engine.advance(wf)));
    const n = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM tasks WHERE workflow_id = $1",
      [wf],
    );
    expect(n.rows[0]?.n).toBe(1);
  });

  it("resumes after a restart: pending tasks are submitted, unknown ones fail", async () => {
    const { workflowIds } = await h.run(plan({ name: "w", jobs: [job("a"), job("b")] }));
    const wf = workflowIds[0] ?? "";
    await h.engine.idle();
    const [a] = h.submittedFor(wf, "a");
    const [b] = h.submittedFor(wf, "b");
    // As if the process died right after queueing b, before handing it to the backend.
    await db.query(
      "UPDATE tasks SET status = 'pending', submitted_at = NULL, submit_lease_until = now() - interval '1 second' WHERE id = $1",
      [b?.taskId],
    );
    const scheduler = new InstantScheduler();
    const engine = new WorkflowEngine({ db, scheduler, logger, urls: h.urls, tickIntervalMs: 0 });
    await engine.start();
    await engine.idle();
    // a was submitted to the old backend instance, which the new one does not know: lost.
    expect((await h.statuses(wf)).a).toBe("infrastructure_fail");
    const resubmitted = [...scheduler.submitted.values()].find(
      (t) => t.job.name === "b" && t.workflow.id === wf,
    );
    expect(resubmitted?.taskId).toBe(b?.taskId);
    expect(resubmitted?.taskToken).not.toBe(b?.taskToken);
    const tasks = new TaskService({ db, engine, logger, urls: h.urls });
    await expect(tasks.claim(b?.taskToken ?? "")).rejects.toMatchObject({
      code: "DROVER_ERR_TASK_TOKEN",
    });
    await tasks.claim(resubmitted?.taskToken ?? "");
    await tasks.events(b?.taskId ?? "", [
      { type: "task_finished", result: "success", at: new Date().toISOString() },
    ]);
    expect(await h.statuses(wf)).toEqual({
      a: "infrastructure_fail",
      b: "success",
      "(workflow)": "error",
    });
    expect(a?.taskId).toBeTruthy();
    await engine.stop();
  });
});

describe("a claim whose task cannot be built", () => {
  it("fails the task at once with the reason", async () => {
    const db = await openDatabase({});
    const h = await harness(db);
    try {
      const tasks = new TaskService({
        db,
        engine: h.engine,
        logger,
        urls: h.urls,
        secrets: {
          forTask: () => Promise.reject(new Error("vault is sealed")),
        },
      });
      const { workflowIds } = await h.run(plan({ name: "w", jobs: [job("x")] }));
      const wf = workflowIds[0] ?? "";
      await h.engine.idle();
      const [t] = h.submittedFor(wf, "x");
      await expect(tasks.claim(t?.taskToken ?? "")).rejects.toThrow("vault is sealed");
      expect(await h.statuses(wf)).toEqual({ x: "infrastructure_fail", "(workflow)": "error" });
      const msg = await db.query<{ message: string }>("SELECT message FROM tasks WHERE id = $1", [
        t?.taskId,
      ]);
      expect(msg.rows[0]?.message).toBe("claim failed: vault is sealed");
    } finally {
      await h.engine.stop();
      await db.close();
    }
  });
});

describe("machine-local backends on several instances", () => {
  it("reconcile only the tasks this instance submitted", async () => {
    const db = await openDatabase({});
    const h = await harness(db);
    const mk = (instanceId: string, scheduler = new InstantScheduler()) =>
      new WorkflowEngine({ db, scheduler, logger, urls: h.urls, tickIntervalMs: 0, instanceId });
    const a = mk("instance-a", h.scheduler);
    try {
      const { workflowIds } = await h.run(plan({ name: "w", jobs: [job("x")] }));
      const wf = workflowIds[0] ?? "";
      await db.query(
        "UPDATE tasks SET status = 'pending', submit_lease_until = NULL WHERE workflow_id = $1",
        [wf],
      );
      h.scheduler.submitted.clear();
      await a.submitPending();
      const b = mk("instance-b");
      await b.start();
      await b.idle();
      expect((await h.statuses(wf)).x).toBe("queued");
      await b.stop();
      // The same instance restarted with a backend that lost the task: now it is failed.
      const a2 = mk("instance-a");
      await a2.start();
      await a2.idle();
      expect((await h.statuses(wf)).x).toBe("infrastructure_fail");
      await a2.stop();
    } finally {
      await h.engine.stop();
      await db.close();
    }
  });
});

describe("context access before scheduling", () => {
  it("ends a job whose context is refused unauthorized without running it", async () => {
    const db = await openDatabase({});
    const h = await harness(db);
    const checked: string[][] = [];
    const engine = new WorkflowEngine({
      db,
      scheduler: h.scheduler,
      logger,
      urls: h.urls,
      tickIntervalMs: 0,
      access: {
        checkAccess: async ({ contexts }) => {
          checked.push(contexts);
          return contexts.includes("prod")
            ? { allowed: false, context: "prod", reason: "restricted to the deployers group" }
            : { allowed: true };
        },
      },
    });
    try {
      const { workflowIds } = await h.run(
        plan({
          name: "w",
          jobs: [
            job("deploy", { contexts: ["prod"], parallelism: 2 }),
            job("test", { contexts: ["ci"] }),
            job("after", { requires: ["deploy"] }),
            job("notify", { requires: [{ job: "deploy", statuses: ["unauthorized"] }] }),
          ],
        }),
      );
      const wf = workflowIds[0] ?? "";
      // Hand the queued tasks to the engine that checks access, as after a restart.
      await db.query(
        "UPDATE tasks SET status = 'pending', submit_lease_until = NULL WHERE workflow_id = $1",
        [wf],
      );
      h.scheduler.submitted.clear();
      await engine.submitPending();
      expect(await h.statuses(wf)).toEqual({
        deploy: "unauthorized",
        test: "queued",
        after: "not_run",
        notify: "queued",
        "(workflow)": "failing",
      });
      expect(h.submittedFor(wf, "deploy")).toEqual([]);
      expect(h.submittedFor(wf, "test")).toHaveLength(1);
      expect(checked).toContainEqual(["prod"]);
      const msg = await db.query<{ message: string }>(
        "SELECT DISTINCT message FROM tasks t JOIN jobs j ON j.id = t.job_id WHERE j.workflow_id = $1 AND j.name = 'deploy'",
        [wf],
      );
      expect(msg.rows.map((r) => r.message)).toEqual([
        "unauthorized: context 'prod': restricted to the deployers group",
      ]);
    } finally {
      await h.engine.stop();
      await db.close();
    }
  });
});

describe.each(dbs.filter((d) => d.name === "postgres"))(
  "two engines on one PostgreSQL",
  ({ open }) => {
    it("submit each pending task exactly once", async () => {
      const db = await open();
      const h = await harness(db);
      const other = new InstantScheduler();
      const second = new WorkflowEngine({
        db,
        scheduler: other,
        logger,
        urls: h.urls,
        tickIntervalMs: 0,
      });
      const jobs = Array.from({ length: 20 }, (_, i) => job(`j${i}`, { parallelism: 2 }));
      const { workflowIds } = await h.run(plan({ name: "w", jobs }));
      // Both instances race for the same pending tasks.
      await db.query(
        "UPDATE tasks SET status = 'pending', submit_lease_until = NULL WHERE workflow_id = $1",
        [workflowIds[0]],
      );
      h.scheduler.submitted.clear();
      await Promise.all([
        h.engine.submitPending(),
        second.submitPending(),
        h.engine.submitPending(),
        second.submitPending(),
      ]);
      const ids = [...h.scheduler.submitted.keys(), ...other.submitted.keys()];
      expect(ids.length).toBe(40);
      expect(new Set(ids).size).toBe(40);
      await h.engine.stop();
      await db.close();
    });
  },
);
