import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskServer } from "./helpers/task-server.js";
import {
  containersOf,
  makeRepo,
  makeTask,
  requireDocker,
  run,
  runTask,
} from "./helpers/fixtures.js";

const server = new TaskServer();
beforeAll(async () => {
  await requireDocker();
  await server.start();
});
afterAll(() => server.stop());

function finished(events: { type: string }[]) {
  return events.filter((e) => e.type === "step_finished") as Array<{
    step: number;
    status: string;
    exitCode: number | null;
    durationMs: number;
    message?: string;
  }>;
}

describe("agent with the docker executor", () => {
  it("runs steps, reports each step and removes its containers", async () => {
    const spec = makeTask({
      steps: [run("echo hello from $CIRCLE_JOB; echo oops >&2"), run("pwd; echo $HOME")],
      environment: {
        project: { LAYER: "project", P: "p" },
        contexts: { LAYER: "context" },
        job: { J: "job" },
      },
    });
    const { outcome, sink, state } = await runTask(server, spec);
    expect(outcome.result).toBe("success");
    expect(sink.text(0, "stdout")).toBe("hello from build\n");
    expect(sink.text(0, "stderr")).toBe("oops\n");
    expect(sink.text(1)).toBe("/root/project\n/root\n");
    const f = finished(state.events);
    expect(f.map((e) => [e.step, e.status, e.exitCode])).toEqual([
      [-1, "success", 0],
      [0, "success", 0],
      [1, "success", 0],
    ]);
    expect(state.events.at(-1)).toMatchObject({ type: "task_finished", result: "success" });
    expect(await containersOf(spec.taskId)).toEqual([]);
  });

  it("applies environment precedence step > job > built-ins > context > project", async () => {
    const spec = makeTask({
      steps: [
        run(
          'echo "$A|$B|$C|$D|$CI|$CIRCLE_BRANCH|$CIRCLE_NODE_TOTAL|$CIRCLE_BUILD_NUM|$CIRCLE_WORKING_DIRECTORY"',
          {
            environment: { A: "step" },
          },
        ),
      ],
      environment: {
        project: { A: "project", B: "project", C: "project", D: "project", CI: "project" },
        contexts: { A: "context", B: "context", C: "context" },
        job: { A: "job", B: "job" },
      },
    });
    const { sink } = await runTask(server, spec);
    expect(sink.text(0)).toBe("step|job|context|project|true|main|1|42|~/project\n");
  });

  it("fails the job on a non-zero step, skips on_success steps, runs on_fail and always", async () => {
    const spec = makeTask({
      steps: [
        run("echo before; exit 3"),
        run("echo never"),
        run("echo on-fail", { when: "on_fail" }),
        run("echo always", { when: "always" }),
      ],
    });
    const { outcome, sink, state } = await runTask(server, spec);
    expect(outcome.result).toBe("failed");
    expect(finished(state.events).map((e) => [e.step, e.status, e.exitCode])).toEqual([
      [-1, "success", 0],
      [0, "failed", 3],
      [1, "skipped", null],
      [2, "success", 0],
      [3, "success", 0],
    ]);
    expect(sink.text(1)).toBe("");
    expect(sink.text(2)).toBe("on-fail\n");
    expect(state.events.at(-1)).toMatchObject({ type: "task_finished", result: "failed" });
  });

  it("uses bash with pipefail by default", async () => {
    const spec = makeTask({ steps: [run("false | true; echo unreachable")] });
    const { outcome, sink } = await runTask(server, spec);
    expect(outcome.result).toBe("failed");
    expect(sink.text(0)).not.toContain("unreachable");
  });

  it("kills a step after no_output_timeout and says so", async () => {
    const spec = makeTask({
      steps: [run("echo start; sleep 30; echo late", { noOutputTimeoutMs: 2000 })],
    });
    const t0 = Date.now();
    const { outcome, sink, state } = await runTask(server, spec);
    expect(Date.now() - t0).toBeLessThan(15_000);
    expect(outcome.result).toBe("failed");
    const step = finished(state.events).find((e) => e.step === 0);
    expect(step?.status).toBe("timedout");
    expect(step?.message).toContain("Too long with no output (exceeded 2s)");
    expect(sink.text(0)).toContain("start\n");
    expect(sink.text(0)).not.toContain("late");
  });

  it("runs background steps alongside later steps and stops them at the end", async () => {
    const spec = makeTask({
      steps: [
        run("echo bg-up > /tmp/bg; sleep 300", { background: true, name: "server" }),
        run("for i in $(seq 50); do [ -f /tmp/bg ] && break; sleep 0.1; done; cat /tmp/bg"),
      ],
    });
    const t0 = Date.now();
    const { outcome, sink, state } = await runTask(server, spec);
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(outcome.result).toBe("success");
    expect(sink.text(1)).toBe("bg-up\n");
    expect(finished(state.events).find((e) => e.step === 0)?.status).toBe("success");
  });

  it("fails the job when a background step fails on its own", async () => {
    const spec = makeTask({
      steps: [run("exit 4", { background: true, name: "dies" }), run("sleep 1; echo later")],
    });
    const { outcome, state } = await runTask(server, spec);
    expect(outcome.result).toBe("failed");
    expect(finished(state.events).find((e) => e.step === 0)).toMatchObject({
      status: "failed",
      exitCode: 4,
    });
  });

  it("masks secrets in output", async () => {
    const spec = makeTask({
      steps: [run('echo "token=$TOKEN"')],
      environment: { project: { TOKEN: "s3cr3t-value-123" }, contexts: {}, job: {} },
      secrets: ["s3cr3t-value-123"],
    });
    const { sink } = await runTask(server, spec);
    expect(sink.text(0)).not.toContain("s3cr3t-value-123");
    expect(sink.text(0)).toContain("token=");
  });

  it("reports a missing image as an infrastructure failure naming the alias setting", async () => {
    const spec = makeTask({
      executor: { type: "docker", images: [{ image: "cimg/ruby:3.3", environment: {} }] },
      steps: [run("true")],
    });
    const { outcome, state } = await runTask(server, spec);
    expect(outcome.result).toBe("infrastructure_fail");
    expect(outcome.message).toContain("cimg/ruby:3.3");
    expect(outcome.message).toContain("DROVER_IMAGE_ALIASES");
    const last = state.events.at(-1);
    expect(last).toMatchObject({ type: "task_finished", result: "infrastructure_fail" });
    expect(await containersOf(spec.taskId)).toEqual([]);
  });

  it("checks out the repository at the revision with .git kept", async () => {
    const repo = makeRepo({ "README.md": "# demo\n", "src/a.txt": "a\n" });
    const spec = makeTask({
      project: { slug: "gh/acme/demo", org: "acme", repo: "demo", gitUrl: repo.url },
      pipeline: { id: "p", number: 1, branch: "main", revision: repo.revision },
      steps: [
        { type: "checkout", name: "Checkout code", when: "on_success" },
        run(
          "cat src/a.txt; git log --format=%H -1; git rev-parse --abbrev-ref HEAD; stat -c %U README.md",
        ),
      ],
    });
    const { outcome, sink } = await runTask(server, spec);
    expect(outcome.result).toBe("success");
    expect(sink.text(1)).toBe(`a\n${repo.revision}\nmain\nroot\n`);
  });
});

describe("agent failure classes and users", () => {
  it("reports a Docker engine that does not answer as an infrastructure failure", async () => {
    const spec = makeTask({ steps: [run("true")] });
    const token = server.addTask(spec);
    const { runAgent, MemorySink } = await import("@drover/build-agent");
    const { agentConfig, logger } = await import("./helpers/fixtures.js");
    const Docker = (await import("dockerode")).default;
    const outcome = await runAgent({
      config: agentConfig(server, token),
      logger,
      signal: new AbortController().signal,
      docker: new Docker({ socketPath: "/nonexistent/docker.sock" }),
      sink: new MemorySink(),
    });
    expect(outcome.result).toBe("infrastructure_fail");
    expect(outcome.message).toContain("the Docker engine does not answer");
    expect(server.state(spec.taskId).events.at(-1)).toMatchObject({
      type: "task_finished",
      result: "infrastructure_fail",
    });
  });

  it("runs as the image user, expands ~ to that user's home, honors working_directory", async () => {
    const repo = makeRepo({ "a.txt": "a\n" });
    const spec = makeTask({
      executor: {
        type: "docker",
        images: [{ image: "cimg/base:stable", user: "circleci", environment: {} }],
      },
      project: { slug: "gh/acme/demo", org: "acme", repo: "demo", gitUrl: repo.url },
      pipeline: { id: "p", number: 1, revision: repo.revision },
      steps: [
        { type: "checkout", name: "Checkout code", when: "on_success" },
        run("id -un; pwd; stat -c %U a.txt; git status --short | wc -l"),
        run("pwd", { workingDirectory: "sub/dir" }),
        run("pwd", { workingDirectory: "~/elsewhere" }),
      ],
    });
    const { outcome, sink } = await runTask(server, spec);
    expect(outcome.result).toBe("success");
    expect(sink.text(1)).toBe("circleci\n/home/circleci/project\ncircleci\n0\n");
    expect(sink.text(2)).toBe("/home/circleci/project/sub/dir\n");
    expect(sink.text(3)).toBe("/home/circleci/elsewhere\n");
  });
});
