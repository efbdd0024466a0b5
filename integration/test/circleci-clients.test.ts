/**
 * Existing CircleCI tooling pointed at Drover, unchanged: two API client packages from npm,
 * through their public methods. `circle-client` (API v2) triggers a pipeline whose `test` job
 * fails and reads everything back (pipelines, workflows, jobs, job details, tests, artifacts,
 * insights, env vars, checkout keys), then reruns the failed job; `circleci-api` (API v1.1)
 * reads the job details with their steps, the failed step's output, tests and artifacts.
 */
import circleClient from "circle-client";
import { CircleCI as CircleV1 } from "circleci-api";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCircleServer, testCase, type CircleServer } from "./circleci-server.js";

/** The client class, whether the loader hands over `module.exports` or its `default`. */
type V2Class = typeof circleClient;
const CircleV2: V2Class =
  (circleClient as unknown as { default?: V2Class }).default ?? circleClient;
type V2 = InstanceType<V2Class>;

describe("CircleCI API clients against Drover", () => {
  let s: CircleServer;
  let v2: V2;
  let v1: CircleV1;
  let pipeline: { id: string; number: number };
  let workflowId = "";
  let testJob = { id: "", number: 0 };

  beforeAll(async () => {
    s = await startCircleServer();
    // The client's documented base URL, pointed at Drover.
    (CircleV2 as unknown as { baseUrl: string }).baseUrl = `${s.cp.url}/api/v2`;
    v2 = new CircleV2(s.token, s.slug);
    const [, owner, repo] = s.slug.split("/");
    v1 = new CircleV1({
      token: s.token,
      vcs: { owner: owner!, repo: repo! },
      circleHost: `${s.cp.url}/api/v1.1`,
    });

    const made = (await v2.triggerProjectPipeline({ branch: "main" })) as unknown as {
      id: string;
      number: number;
    };
    pipeline = made;
    await s.cp.engine.idle();
    const workflows = await v2.listPipelineWorkflows(made.id);
    workflowId = workflows.items[0]!.id;
    await s.playJob(workflowId, "build", {
      result: "success",
      step: { name: "Compile", lines: ["compiled"] },
    });
    const plan = await s.playJob(workflowId, "test", {
      result: "failed",
      step: { name: "Unit tests", lines: ["FAIL flaky: expected 1, got 2", "make: *** Error 1"] },
      tests: [testCase("adds", "success"), testCase("flaky", "failure", "expected 1, got 2")],
      artifacts: { "report/summary.txt": "1 failed\n", "coverage/index.html": "<p>80%</p>" },
    });
    testJob = { id: plan.job.id, number: plan.job.number };
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  });

  it("circle-client reads the user, the project and the pipelines", async () => {
    expect((await v2.getMe()).id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await v2.getCollaborations()).map((c) => c.name)).toContain("acme");
    expect((await v2.getProject()).slug).toBe(s.slug);
    expect((await v2.getPipeline(pipeline.id)).number).toBe(pipeline.number);
    expect((await v2.getProjectPipeline(pipeline.number)).id).toBe(pipeline.id);
    expect((await v2.listProjectPipelines({ branch: "main" })).items.map((p) => p.id)).toEqual([
      pipeline.id,
    ]);
    expect((await v2.listOwnProjectPipelines()).items.map((p) => p.id)).toEqual([pipeline.id]);
    const org = s.slug.split("/").slice(0, 2).join("/");
    const across = await v2.listPipelines(org, { onlyMine: true });
    expect(across.items.map((p) => p.id)).toContain(pipeline.id);
    expect((await v2.getPipelineConfig(pipeline.id)).source).toContain("workflows:");
  });

  it("circle-client finds the failed job, its tests and artifacts", async () => {
    const wf = await v2.getWorkflow(workflowId);
    expect(wf.status).toBe("failed");
    const jobs = await v2.listWorkflowJobs(workflowId);
    const byName = Object.fromEntries(jobs.items.map((j) => [j.name, j]));
    expect(byName.build?.status).toBe("success");
    expect(byName.test).toMatchObject({ status: "failed", job_number: testJob.number });
    const details = await v2.getJob(testJob.number);
    expect(details).toMatchObject({ name: "test", status: "failed", number: testJob.number });
    expect(details.latest_workflow.id).toBe(workflowId);
    const tests = await v2.listJobTests(testJob.number);
    expect(tests.items.find((t) => t.result === "failure")).toMatchObject({
      name: "flaky",
      classname: "app.Suite",
      message: "expected 1, got 2",
    });
    const artifacts = await v2.listJobArtifacts(testJob.number);
    expect(artifacts.items.map((a) => a.path).sort()).toEqual([
      "coverage/index.html",
      "report/summary.txt",
    ]);
    for (const a of artifacts.items) expect(a.url).toContain(`/${testJob.number}/artifacts/0/`);
  });

  it("circleci-api (v1.1) reads the job's steps, the failed step's output, tests, artifacts", async () => {
    const build = await v1.build(testJob.number);
    expect(build).toMatchObject({ build_num: testJob.number, status: "failed", outcome: "failed" });
    const failed = build.steps?.flatMap((st) => st.actions).find((a) => a.failed);
    expect(failed).toMatchObject({ name: "Unit tests", exit_code: 1 });
    // What tools do next: read the failed action's output_url with the same token.
    const res = await fetch(String(failed?.output_url), { headers: { "Circle-Token": s.token } });
    const output = (await res.json()) as Array<{ message: string; type: string }>;
    expect(output.map((o) => o.message).join("")).toContain("FAIL flaky: expected 1, got 2");
    const meta = await v1.getTestMetadata(testJob.number);
    expect(meta.tests.map((t) => `${t.name}:${t.result}`).sort()).toEqual([
      "adds:success",
      "flaky:failure",
    ]);
    const artifacts = await v1.artifacts(testJob.number);
    expect(artifacts.map((a) => a.path).sort()).toEqual([
      "coverage/index.html",
      "report/summary.txt",
    ]);
  });

  it("circle-client reruns the failed job; insights then show the flaky test", async () => {
    await v2.rerunWorkflow(workflowId, { jobs: [testJob.id] });
    await s.cp.engine.idle();
    const rerun = (await v2.listPipelineWorkflows(pipeline.id)).items.find(
      (w) => w.id !== workflowId,
    );
    expect(rerun).toBeDefined();
    await s.playJob(rerun!.id, "test", {
      result: "success",
      step: { name: "Unit tests", lines: ["all passed"] },
      tests: [testCase("adds", "success"), testCase("flaky", "success")],
    });
    expect((await v2.getWorkflow(rerun!.id)).status).toBe("success");

    const metrics = await v2.listWorkflowMetrics();
    expect(metrics.items[0]).toMatchObject({
      name: "main",
      metrics: { total_runs: 2, successful_runs: 1, failed_runs: 1, success_rate: 0.5 },
    });
    const runs = await v2.listWorkflowRuns("main");
    expect(runs.items.map((r) => r.status)).toEqual(["success", "failed"]);
    const res = await fetch(`${s.cp.url}/api/v2/insights/${s.slug}/flaky-tests`, {
      headers: { "Circle-Token": s.token },
    });
    const flaky = (await res.json()) as { "flaky-tests": Array<Record<string, unknown>> };
    expect(flaky["flaky-tests"].map((t) => t["test-name"])).toEqual(["flaky"]);
  });

  it("circle-client sends `fromFailed` where CircleCI documents `from_failed`: a clear 400", async () => {
    const err = await v2.rerunWorkflow(workflowId, { fromFailed: true }).catch((e: unknown) => e);
    expect(err).toMatchObject({ status: 400 });
    expect(String((err as Error).message)).toMatch(/fromFailed/);
  });

  it("circle-client manages env vars and checkout keys", async () => {
    await v2.createEnvVar("DEPLOY_TOKEN", "tok-0123456789");
    expect((await v2.getEnvVar("DEPLOY_TOKEN")).value).toBe("xxxx6789");
    expect((await v2.listEnvVars()).items.map((e) => e.name)).toEqual(["DEPLOY_TOKEN"]);
    await v2.deleteEnvVar("DEPLOY_TOKEN");
    expect((await v2.listEnvVars()).items).toEqual([]);

    const key = await v2.createCheckoutKey("deploy-key");
    expect(key).toMatchObject({ type: "deploy-key", preferred: true });
    expect(key["public-key"]).toMatch(/^ssh-ed25519 /);
    expect((await v2.getCheckoutKey(key.fingerprint)).fingerprint).toBe(key.fingerprint);
    expect((await v2.listCheckoutKeys()).items.map((k) => k.fingerprint)).toEqual([
      key.fingerprint,
    ]);
    await v2.deleteCheckoutKey(key.fingerprint);
    expect((await v2.listCheckoutKeys()).items).toEqual([]);
  });
});
