import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  defaultExecutorConfig,
  parseImageAliases,
  serviceStep,
  sweepOrphans,
} from "@drover/build-agent";
import { TaskServer } from "./helpers/task-server.js";
import { containersOf, docker, makeTask, requireDocker, run, runTask } from "./helpers/fixtures.js";

const server = new TaskServer();
beforeAll(async () => {
  await requireDocker();
  await server.start();
});
afterAll(() => server.stop());

const AGENT = fileURLToPath(new URL("../dist/main.js", import.meta.url));

function spawnAgent(token: string) {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: run npx tsc --build first`);
  return spawn(process.execPath, [AGENT], {
    env: {
      ...process.env,
      DROVER_TASK_TOKEN: token,
      DROVER_URL: server.url,
      DROVER_OUTPUT: "stdout",
      DROVER_IMAGE_ALIASES: "cimg/base:*=drover/ci-base",
      DROVER_LOG_LEVEL: "error",
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
}

/** Waits until the agent reports that `step` of `taskId` started. */
async function stepStarted(taskId: string, step: number): Promise<void> {
  await vi.waitFor(
    () =>
      expect(server.tasks.get(taskId)?.events).toContainEqual(
        expect.objectContaining({ type: "step_started", step }),
      ),
    { timeout: 20_000, interval: 100 },
  );
}

describe("job sandbox", () => {
  it("allows unshare -U under the seccomp profile, limits pids and memory, has no Docker socket", async () => {
    const spec = makeTask({
      resourceClass: "small",
      steps: [
        run("unshare -U true && echo userns-ok"),
        run("test ! -e /var/run/docker.sock && echo no-socket"),
        run(
          "cat /sys/fs/cgroup/pids/pids.max /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/pids.max /sys/fs/cgroup/memory.max",
        ),
        run("grep Seccomp: /proc/self/status"),
      ],
    });
    const { outcome, sink } = await runTask(server, spec);
    expect(outcome.result).toBe("success");
    expect(sink.text(0)).toBe("userns-ok\n");
    expect(sink.text(1)).toBe("no-socket\n");
    expect(sink.text(2)).toBe(`4096\n${2 * 1024 ** 3}\n`);
    expect(sink.text(3)).toMatch(/Seccomp:\s+2/);
  });

  it.each(["nsenter", "container"] as const)(
    "makes 169.254.0.0/16 unreachable (%s guard; rejected locally, nothing sent)",
    async (netGuard) => {
      // Only try to connect once the reject route is proven present, so no packet can leave.
      const spec = makeTask({
        steps: [
          run(
            "grep -q '0000FEA9.*0201.*0000FFFF' /proc/net/route && echo route-rejected && " +
              "(timeout 3 bash -c 'echo > /dev/tcp/169.254.169.254/80' 2>&1 || true) && " +
              "(timeout 3 bash -c 'echo > /dev/tcp/169.254.170.2/80' 2>&1 || true)",
          ),
        ],
      });
      const executor = defaultExecutorConfig({
        aliases: parseImageAliases("cimg/base:*=drover/ci-base"),
        netGuard,
      });
      const { outcome, sink } = await runTask(server, spec, { executor });
      expect(outcome.result).toBe("success");
      expect(sink.text(0)).toContain("route-rejected");
      expect(sink.text(0)).toContain("/dev/tcp/169.254.169.254/80: No route to host");
      expect(sink.text(0)).toContain("/dev/tcp/169.254.170.2/80: No route to host");
    },
  );

  it("serves service containers on localhost and by name", async () => {
    const serve =
      "$|=1; $s=IO::Socket::INET->new(LocalPort=>8080,Listen=>5,ReuseAddr=>1) or die $!; print qq(listening on 8080\\n); " +
      'while($c=$s->accept){print $c "hello from service\\n"; close $c}';
    const spec = makeTask({
      executor: {
        type: "docker",
        images: [
          { image: "cimg/base:stable", environment: {} },
          {
            image: "drover/ci-base",
            name: "svc",
            entrypoint: ["perl", "-MIO::Socket::INET", "-e", serve],
            environment: {},
          },
        ],
      },
      steps: [
        run(
          "for i in $(seq 50); do (exec 3<>/dev/tcp/localhost/8080 && cat <&3) && break; sleep 0.1; done; " +
            "exec 3<>/dev/tcp/svc/8080 && cat <&3",
        ),
      ],
    });
    const { outcome, sink } = await runTask(server, spec);
    expect(outcome.result).toBe("success");
    expect(sink.text(0)).toBe("hello from service\nhello from service\n");
    expect(sink.text(serviceStep(0))).toBe("listening on 8080\n");
    expect(
      sink.records.find((r) => r.type === "step_started" && r.step === serviceStep(0)),
    ).toMatchObject({
      name: "Container drover/ci-base (svc)",
    });
    expect(await containersOf(spec.taskId)).toEqual([]);
  });

  it("kills a timed-out step even when the container has no pids left", async () => {
    const spec = makeTask({
      steps: [
        run("for i in $(seq 100); do sleep 300 & done 2>/dev/null; echo started; wait", {
          noOutputTimeoutMs: 2000,
        }),
        run("echo cleanup ran", { when: "always" }),
      ],
    });
    const executor = defaultExecutorConfig({
      aliases: parseImageAliases("cimg/base:*=drover/ci-base"),
      pidsLimit: 48,
    });
    const t0 = Date.now();
    const { outcome, sink, state } = await runTask(server, spec, { executor });
    expect(Date.now() - t0).toBeLessThan(30_000);
    expect(outcome.result).toBe("failed");
    expect(state.events.find((e) => e.type === "step_finished" && e.step === 0)).toMatchObject({
      status: "timedout",
    });
    expect(sink.text(1)).toBe("cleanup ran\n");
  });

  it("sweeps the containers of an agent killed with -9", async () => {
    const spec = makeTask({ steps: [run("sleep 300")] });
    const child = spawnAgent(server.addTask(spec));
    await stepStarted(spec.taskId, 0);
    expect((await containersOf(spec.taskId)).length).toBe(1);
    expect(
      await docker.listNetworks({ filters: { label: [`drover.task=${spec.taskId}`] } }),
    ).toHaveLength(1);
    child.kill("SIGKILL");
    await new Promise((r) => child.once("exit", r));
    // Any agent starting on this host sweeps too (tests run in parallel): either way they go.
    const swept = await sweepOrphans(docker, { host: os.hostname() });
    expect(swept.every((t) => t !== "")).toBe(true);
    expect(await containersOf(spec.taskId)).toEqual([]);
    expect(
      await docker.listNetworks({ filters: { label: [`drover.task=${spec.taskId}`] } }),
    ).toEqual([]);
  });

  it("sweeps containers whose agent pid now belongs to another process", async () => {
    const { processStart } = await import("../src/executor/docker/process-start.js");
    const make = async (start: string) => {
      const task = `test-${randomUUID()}`;
      const c = await docker.createContainer({
        Image: "drover/ci-base:latest",
        Cmd: ["sleep", "60"],
        Labels: {
          "drover.task": task,
          "drover.agent.pid": String(process.pid),
          "drover.agent.host": os.hostname(),
          "drover.agent.start": start,
        },
      });
      return { task, c };
    };
    const reused = await make("1");
    const live = await make(processStart("self") ?? "");
    try {
      await sweepOrphans(docker, { host: os.hostname() });
      expect(await containersOf(reused.task)).toEqual([]);
      expect(await containersOf(live.task)).toHaveLength(1);
    } finally {
      await live.c.remove({ force: true });
      await reused.c.remove({ force: true }).catch(() => undefined);
    }
  });

  it("cancels cleanly on SIGTERM", { timeout: 180_000 }, async () => {
    const spec = makeTask({ steps: [run("sleep 300"), run("echo after", { when: "always" })] });
    const child = spawnAgent(server.addTask(spec));
    let stdout = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    await stepStarted(spec.taskId, 0);
    child.kill("SIGTERM");
    const code = await new Promise((r) => child.once("exit", r));
    expect(code).toBe(1);
    const events = server.state(spec.taskId).events;
    expect(events.find((e) => e.type === "step_finished" && e.step === 0)).toMatchObject({
      status: "canceled",
    });
    expect(events.at(-1)).toMatchObject({ type: "task_finished", result: "canceled" });
    expect(stdout).toContain('"type":"task_finished","result":"canceled"');
    expect(await containersOf(spec.taskId)).toEqual([]);
  });
});
