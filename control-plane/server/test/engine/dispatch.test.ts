/** The task plan the backend gets for a leased task (`taskPlan`): pure mapping, with defaults. */
import { describe, expect, it } from "vitest";
import { taskPlan, type LeasedTask } from "@drover/control-plane";

const urls = { controlPlane: "http://cp:8080", public: "https://ci.example", output: "http://op" };
const leased: LeasedTask = {
  id: "t1",
  attempt: 2,
  nodeIndex: 1,
  nodeTotal: 4,
  enableSsh: true,
  job: { id: "j1", name: "test", number: 17, contexts: ["ci"] },
  resourceClass: "large",
  executorType: "machine",
  workflow: { id: "w1", name: "build" },
  pipeline: { id: "p1", number: 3 },
  project: { id: "pr1", slug: "gh/acme/app", name: "app", orgId: "o1" },
  userId: null,
};

describe("taskPlan", () => {
  it("carries the task's identity, the token and the links, and never the contexts", () => {
    const plan = taskPlan(leased, "dtt_token", urls);
    expect(plan).toEqual({
      taskId: "t1",
      taskToken: "dtt_token",
      controlPlaneUrl: "http://cp:8080",
      outputUrl: "http://op",
      project: { slug: "gh/acme/app", name: "app" },
      pipeline: { id: "p1", number: 3 },
      workflow: { id: "w1", name: "build" },
      job: { id: "j1", name: "test", number: 17, attempt: 2 },
      node: { index: 1, total: 4 },
      resourceClass: "large",
      executorType: "machine",
      sshEnabled: true,
      jobUrl: "https://ci.example/jobs/j1",
    });
  });

  it("defaults to a medium docker job and number 0 when the plan names neither", () => {
    const plan = taskPlan(
      {
        ...leased,
        resourceClass: null,
        executorType: null,
        job: { ...leased.job, number: null },
      },
      "x",
      urls,
    );
    expect(plan).toMatchObject({
      resourceClass: "medium",
      executorType: "docker",
      job: { number: 0 },
    });
    expect(taskPlan({ ...leased, executorType: "macos" }, "x", urls).executorType).toBe("docker");
  });
});
