import { describe, expect, it } from "vitest";
import {
  evaluate,
  jobStatusFromTasks,
  satisfies,
  workflowStatus,
  type JobState,
  type JobStatus,
} from "@drover/control-plane";

const j = (
  name: string,
  status: JobStatus,
  requires: string[] = [],
  type: "build" | "approval" = "build",
): JobState => ({
  name,
  type,
  status,
  requires: requires.map((r) => ({ job: r, statuses: ["success"] })),
});
const wf = (...s: JobStatus[]) => s.map((status) => ({ status }));

describe("workflow rules", () => {
  it("gives each of CircleCI's eight workflow statuses", () => {
    expect(workflowStatus(wf("running", "blocked"), false)).toBe("running");
    expect(workflowStatus(wf("success", "success"), false)).toBe("success");
    expect(workflowStatus(wf("success", "failed", "not_run"), false)).toBe("failed");
    expect(workflowStatus(wf("success", "infrastructure_fail"), false)).toBe("error");
    expect(workflowStatus(wf("failed", "running"), false)).toBe("failing");
    expect(workflowStatus(wf("running"), true)).toBe("canceled");
    expect(workflowStatus(wf("success", "on_hold", "blocked"), false)).toBe("on_hold");
    expect(workflowStatus(wf("not_run", "not_run"), false)).toBe("not_run");
    expect(workflowStatus(wf("on_hold", "running"), false)).toBe("running");
    expect(workflowStatus(wf("success", "canceled"), false)).toBe("canceled");
    expect(workflowStatus(wf("timedout"), false)).toBe("failed");
  });

  it("queues, holds and skips blocked jobs, cascading not_run", () => {
    expect(evaluate([j("a", "blocked"), j("b", "blocked", ["a"])])).toEqual([
      { name: "a", to: "queued" },
    ]);
    expect(evaluate([j("a", "success"), j("h", "blocked", ["a"], "approval")])).toEqual([
      { name: "h", to: "on_hold" },
    ]);
    expect(
      evaluate([
        j("a", "failed"),
        j("b", "blocked", ["a"]),
        j("c", "blocked", ["b"]),
        j("d", "blocked", ["a", "x"]),
      ]),
    ).toEqual([
      { name: "b", to: "not_run" },
      { name: "c", to: "not_run" },
      { name: "d", to: "not_run" },
    ]);
    // Carried statuses (partial reruns) satisfy requirements; unknown jobs count as not_run.
    expect(evaluate([j("b", "blocked", ["a"])], { a: "success" })).toEqual([
      { name: "b", to: "queued" },
    ]);
    expect(evaluate([j("b", "blocked", ["gone"])])).toEqual([{ name: "b", to: "not_run" }]);
    // A failed requirement decides at once even while another is still running.
    expect(evaluate([j("a", "failed"), j("r", "running"), j("b", "blocked", ["a", "r"])])).toEqual([
      { name: "b", to: "not_run" },
    ]);
  });

  it("matches requires statuses, with failed covering every failure", () => {
    expect(satisfies(["failed"], "timedout")).toBe(true);
    expect(satisfies(["failed"], "infrastructure_fail")).toBe(true);
    expect(satisfies(["success", "canceled"], "canceled")).toBe(true);
    expect(satisfies(["success"], "not_run")).toBe(false);
  });

  it("folds parallel task results into the job status", () => {
    expect(jobStatusFromTasks([{ status: "success" }, { status: "running" }])).toBeNull();
    expect(jobStatusFromTasks([{ status: "success" }, { status: "failed" }])).toBe("failed");
    expect(jobStatusFromTasks([{ status: "failed" }], true)).toBe("timedout");
    expect(jobStatusFromTasks([{ status: "success" }, { status: "infrastructure_fail" }])).toBe(
      "infrastructure_fail",
    );
    expect(jobStatusFromTasks([{ status: "canceled" }, { status: "success" }])).toBe("canceled");
    expect(jobStatusFromTasks([{ status: "success" }, { status: "success" }])).toBe("success");
  });
});
