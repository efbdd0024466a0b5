/** The DAG-advance step (`planAdvance`) as pure logic: one pass of the rules over job statuses. */
import { describe, expect, it } from "vitest";
import type { JobRequirement } from "@drover/config-compiler";
import {
  planAdvance,
  type AdvancePlan,
  type JobForRules,
  type JobStatus,
  type WorkflowForRules,
} from "@drover/control-plane";

const running: WorkflowForRules = {
  id: "wf",
  status: "running",
  carried: {},
  canceledAt: null,
  stoppedAt: null,
};

function j(
  name: string,
  status: JobStatus,
  requires: Array<string | JobRequirement> = [],
  more: Partial<JobForRules> = {},
): JobForRules {
  return {
    id: `id-${name}`,
    name,
    type: "build",
    status,
    requires: requires.map((r) => (typeof r === "string" ? { job: r, statuses: ["success"] } : r)),
    parallelism: 1,
    enableSsh: false,
    ...more,
  };
}

/** The plan's moves by job name, leaving out empty lists. */
const moved = (p: AdvancePlan) =>
  Object.fromEntries(
    Object.entries(p.moves)
      .filter(([, ids]) => ids.length > 0)
      .map(([to, ids]) => [to, ids.map((id) => id.replace(/^id-/, ""))]),
  );

/** Applies a plan's moves to the jobs, as the transaction would. */
const applied = (jobs: JobForRules[], p: AdvancePlan): JobForRules[] =>
  jobs.map((job) => {
    const to = (Object.keys(p.moves) as Array<keyof AdvancePlan["moves"]>).find((k) =>
      p.moves[k].includes(job.id),
    );
    return to ? { ...job, status: to } : job;
  });

describe("planAdvance", () => {
  it("queues jobs whose requirements all succeeded and leaves the others blocked", () => {
    const jobs = [j("a", "blocked"), j("b", "blocked", ["a"]), j("c", "blocked", ["a", "b"])];
    const first = planAdvance(running, jobs);
    expect(moved(first)).toEqual({ queued: ["a"] });
    expect(first.status).toBe("running");
    expect(first.final).toBe(false);
    expect(first.writeStatus).toBe(false);

    const afterA = applied(jobs, first).map((x) =>
      x.name === "a" ? { ...x, status: "success" as const } : x,
    );
    expect(moved(planAdvance(running, afterA))).toEqual({ queued: ["b"] });
    // c needs both a and b: b still running keeps it blocked.
    const bRunning = afterA.map((x) => (x.name === "b" ? { ...x, status: "running" as const } : x));
    expect(moved(planAdvance(running, bRunning))).toEqual({});
  });

  it("creates one pending task per parallel node of each queued job, carrying enable_ssh", () => {
    const p = planAdvance(running, [
      j("tests", "blocked", [], { parallelism: 3 }),
      j("debug", "blocked", [], { enableSsh: true }),
      j("later", "blocked", ["tests"], { parallelism: 5 }),
    ]);
    expect(p.tasks).toEqual([
      { jobId: "id-tests", workflowId: "wf", nodeIndex: 0, nodeTotal: 3, enableSsh: false },
      { jobId: "id-tests", workflowId: "wf", nodeIndex: 1, nodeTotal: 3, enableSsh: false },
      { jobId: "id-tests", workflowId: "wf", nodeIndex: 2, nodeTotal: 3, enableSsh: false },
      { jobId: "id-debug", workflowId: "wf", nodeIndex: 0, nodeTotal: 1, enableSsh: true },
    ]);
    expect(p.queued.map((x) => x.name)).toEqual(["tests", "debug"]);
  });

  it("holds an approval job once its requirements are met, without tasks", () => {
    const jobs = [
      j("build", "success"),
      j("hold", "blocked", ["build"], { type: "approval" }),
      j("ship", "blocked", ["hold"]),
    ];
    const p = planAdvance(running, jobs);
    expect(moved(p)).toEqual({ on_hold: ["hold"] });
    expect(p.tasks).toEqual([]);
    expect(p.queued).toEqual([]);
    // Nothing queued or running, a job on hold: the workflow is on hold.
    expect(p.status).toBe("on_hold");
    expect(p.writeStatus).toBe(true);
    // Approved: the job it held is queued.
    const approved = applied(jobs, p).map((x) =>
      x.name === "hold" ? { ...x, status: "success" as const } : x,
    );
    expect(moved(planAdvance({ ...running, status: "on_hold" }, approved))).toEqual({
      queued: ["ship"],
    });
  });

  it("marks the dependants of a failed job not_run, in cascade, and runs failure handlers", () => {
    const p = planAdvance(running, [
      j("a", "failed"),
      j("b", "blocked", ["a"]),
      j("c", "blocked", ["b"]),
      j("d", "running"),
      j("cleanup", "blocked", [{ job: "a", statuses: ["failed"] }]),
      j("always", "blocked", [{ job: "a", statuses: ["success", "failed"] }]),
    ]);
    expect(moved(p)).toEqual({ queued: ["cleanup", "always"], not_run: ["b", "c"] });
    expect(p.status).toBe("failing");
    expect(p.writeStatus).toBe(true);
    expect(p.final).toBe(false);
  });

  it("decides not_run at once when one requirement failed while another still runs", () => {
    const p = planAdvance(running, [
      j("a", "infrastructure_fail"),
      j("r", "running"),
      j("b", "blocked", ["a", "r"]),
    ]);
    expect(moved(p)).toEqual({ not_run: ["b"] });
  });

  it("counts a required job that is nowhere (filtered out) as not_run, unless carried", () => {
    expect(moved(planAdvance(running, [j("b", "blocked", ["gone"])]))).toEqual({
      not_run: ["b"],
    });
    const rerun = { ...running, carried: { a: "success" as const } };
    expect(moved(planAdvance(rerun, [j("b", "blocked", ["a"])]))).toEqual({ queued: ["b"] });
    const failedBefore = { ...running, carried: { a: "failed" as const } };
    expect(moved(planAdvance(failedBefore, [j("b", "blocked", ["a"])]))).toEqual({
      not_run: ["b"],
    });
  });

  it("stops the workflow once every job is final, and writes that only once", () => {
    const jobs = [j("a", "success"), j("b", "blocked", ["a"], { type: "approval" })];
    const done = [j("a", "success"), j("b", "failed")];
    const p = planAdvance(running, done);
    expect(p).toMatchObject({ status: "failed", final: true, writeStatus: true });
    // Already stopped with that status: nothing to write (idempotent).
    const stopped = { ...running, status: "failed" as const, stoppedAt: new Date() };
    expect(planAdvance(stopped, done)).toMatchObject({ final: true, writeStatus: false });
    // Not final while a job is on hold.
    expect(planAdvance(running, jobs)).toMatchObject({ final: false });
  });

  it("moves nothing in a canceled workflow, whose status is canceled", () => {
    const canceled = { ...running, canceledAt: new Date() };
    const p = planAdvance(canceled, [j("a", "canceled"), j("b", "blocked", ["a"])]);
    expect(moved(p)).toEqual({});
    expect(p.tasks).toEqual([]);
    expect(p).toMatchObject({ status: "canceled", final: false, writeStatus: true });
  });

  it("is idempotent: a second pass over the first pass's result moves nothing", () => {
    const jobs = [
      j("a", "failed"),
      j("b", "blocked", ["a"]),
      j("c", "blocked"),
      j("h", "blocked", ["c"], { type: "approval" }),
    ];
    const first = planAdvance(running, jobs);
    expect(moved(first)).toEqual({ queued: ["c"], not_run: ["b"] });
    const second = planAdvance({ ...running, status: first.status }, applied(jobs, first));
    expect(moved(second)).toEqual({});
    expect(second.tasks).toEqual([]);
    expect(second.writeStatus).toBe(false);
  });
});
