/**
 * Runs examples/demo's workflow through the agent: compiled by the control plane's compiler, jobs
 * in `requires` order (test on 2 nodes), against the task API test double.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile, type JobPlan } from "@drover/config-compiler";
import type { TaskSpec } from "@drover/task-api";
import { TaskServer } from "./helpers/task-server.js";
import { makeTask, requireDocker, runTask } from "./helpers/fixtures.js";

const DEMO = fileURLToPath(new URL("../../examples/demo", import.meta.url));
const server = new TaskServer();
beforeAll(async () => {
  await requireDocker();
  await server.start();
});
afterAll(() => server.stop());

function demoRepo(): { url: string; revision: string } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "drover-demo-"));
  cpSync(DEMO, dir, { recursive: true });
  const git = (...a: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@e", ...a], { cwd: dir })
      .toString()
      .trim();
  git("init", "-q", "-b", "main");
  git("add", ".");
  git("commit", "-q", "-m", "demo");
  return { url: `file://${dir}`, revision: git("rev-parse", "HEAD") };
}

describe("examples/demo", () => {
  it("compiles and runs green through the agent, with cache, workspace, artifacts, tests, service", async () => {
    const repo = demoRepo();
    const pipeline = {
      id: randomUUID(),
      number: 1,
      projectSlug: "gh/drover/demo",
      gitUrl: repo.url,
      branch: "main",
      revision: repo.revision,
      triggerSource: "cli",
      parameters: {},
    };
    const result = compile(readFileSync(path.join(DEMO, ".circleci/config.yml"), "utf8"), {
      pipeline,
    });
    expect(result.errors).toEqual([]);
    const wf = result.plan?.workflows[0];
    expect(wf?.jobs.map((j) => j.name)).toEqual(["build", "lint", "test", "report"]);
    const workflow = { id: randomUUID(), name: wf?.name ?? "main" };
    const specs = (job: JobPlan, number: number): TaskSpec[] =>
      Array.from({ length: job.parallelism }, (_, index) =>
        makeTask({
          node: { index, total: job.parallelism },
          project: { slug: "gh/drover/demo", org: "drover", repo: "demo", gitUrl: repo.url },
          pipeline: { id: pipeline.id, number: 1, branch: "main", revision: repo.revision },
          workflow,
          job: {
            id: `job-${job.name}`,
            name: job.name,
            number,
            url: `http://127.0.0.1/jobs/${number}`,
          },
          executor: job.executor ?? { type: "docker", images: [] },
          steps: job.steps,
          workingDirectory: job.workingDirectory,
          ...(job.shell ? { shell: job.shell } : {}),
          resourceClass: job.resourceClass,
          environment: { project: {}, contexts: {}, job: job.environment },
        }),
      );
    const outputs: Record<string, string> = {};
    let number = 0;
    for (const job of wf?.jobs ?? []) {
      for (const spec of specs(job, ++number)) {
        const { outcome, sink, state } = await runTask(server, spec);
        const text = sink.records.map((r) => (r.type === "output" ? r.data : "")).join("");
        outputs[`${job.name}/${spec.node.index}`] = text;
        expect(outcome, `${job.name} node ${spec.node.index}:\n${text}`).toEqual({
          result: "success",
        });
        if (job.name === "test") {
          expect(state.tests.length).toBe(3);
          expect(state.tests.every((t) => t.result === "success")).toBe(true);
          expect([...state.artifacts.keys()]).toEqual([
            `test-results/junit-node-${spec.node.index}.xml`,
          ]);
        }
        if (job.name === "report") expect([...state.artifacts.keys()]).toEqual(["report.txt"]);
      }
    }
    expect(outputs["build/0"]).toContain("installing greeting-lib 1.2.0");
    expect(outputs["report/0"]).toContain(`built: ${repo.revision.slice(0, 7)}`);
    // A second build restores the dependencies from the cache.
    const again = await runTask(server, specs(wf?.jobs[0] as JobPlan, 99)[0] as TaskSpec);
    expect(again.outcome.result).toBe("success");
    expect(again.sink.records.map((r) => (r.type === "output" ? r.data : "")).join("")).toContain(
      "dependencies restored from cache",
    );
  }, 180_000);
});
