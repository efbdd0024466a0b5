import { mkdtempSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it, vi } from "vitest";
import { LocalScheduler, type TaskPlan, type TaskStatusEvent } from "@drover/control-plane";
import { logger } from "../helpers/harness.js";

const fixture = (name: string) => fileURLToPath(new URL(`../fixtures/${name}`, import.meta.url));

function plan(taskId = randomUUID()): TaskPlan {
  return {
    taskId,
    taskToken: "dtt_test",
    controlPlaneUrl: "http://127.0.0.1:9",
    outputUrl: "http://127.0.0.1:9",
    project: { slug: "gh/a/b", name: "b" },
    pipeline: { id: randomUUID(), number: 1 },
    workflow: { id: randomUUID(), name: "w" },
    job: { id: randomUUID(), name: "j", number: 1, attempt: 1 },
    node: { index: 0, total: 1 },
    resourceClass: "medium",
    executorType: "docker",
    sshEnabled: false,
    jobUrl: "http://drover.test/jobs/x",
  };
}

/** Waits for the task to reach this state. */
const reached = (
  events: TaskStatusEvent[],
  taskId: string,
  state: string,
  timeout = 15_000,
): Promise<void> =>
  vi.waitFor(
    () => {
      if (!events.some((e) => e.taskId === taskId && e.status.state === state))
        throw new Error(`no ${state} for ${taskId}: ${JSON.stringify(events)}`);
    },
    { timeout, interval: 25 },
  );

describe("local scheduler", () => {
  const schedulers: LocalScheduler[] = [];
  const make = (stateDir: string, agentCommand: string[], killGraceMs = 500) => {
    const s = new LocalScheduler({ logger, stateDir, agentCommand, killGraceMs, pollMs: 50 });
    schedulers.push(s);
    return s;
  };
  afterAll(async () => {
    for (const s of schedulers) await s.close();
  });

  it("runs the agent with the task token and URLs, once per task id", async () => {
    const dir = mkdtempSync(join(tmpdir(), "drover-local-"));
    const s = make(dir, [
      "sh",
      "-c",
      'echo "$DROVER_TASK_TOKEN $DROVER_URL $DROVER_OUTPUT_URL $DROVER_TASK_ID"; exit 7',
    ]);
    const events: TaskStatusEvent[] = [];
    s.watch((e) => events.push(e));
    const p = plan();
    await Promise.all([s.submit(p), s.submit(p)]);
    await s.submit(p);
    await reached(events, p.taskId, "finished");
    const finished = events.filter((e) => e.taskId === p.taskId && e.status.state === "finished");
    expect(finished).toEqual([
      { taskId: p.taskId, status: expect.objectContaining({ state: "finished", exitCode: 7 }) },
    ]);
    expect(events.filter((e) => e.status.state === "running")).toHaveLength(1);
    const out = await readFile(join(dir, `${p.taskId}.log`), "utf8");
    expect(out.trim()).toBe(`dtt_test http://127.0.0.1:9 http://127.0.0.1:9 ${p.taskId}`);
    await s.cleanup(p.taskId);
    await s.cleanup(p.taskId);
    await s.cancel(p.taskId);
  });

  it("reports an agent that cannot start as lost", async () => {
    const s = make(mkdtempSync(join(tmpdir(), "drover-local-")), ["/nonexistent/agent"]);
    const events: TaskStatusEvent[] = [];
    s.watch((e) => events.push(e));
    const p = plan();
    await s.submit(p);
    await reached(events, p.taskId, "lost");
  });

  it("cancels with SIGTERM, then SIGKILL after the grace period", async () => {
    const dir = mkdtempSync(join(tmpdir(), "drover-local-"));
    const s = make(dir, [process.execPath, fixture("ignore-sigterm.mjs")], 300);
    const events: TaskStatusEvent[] = [];
    s.watch((e) => events.push(e));
    const p = plan();
    await s.submit(p);
    // Its SIGTERM handler is in place once it says so.
    await vi.waitFor(
      async () => expect(await readFile(join(dir, `${p.taskId}.log`), "utf8")).toContain("ready"),
      { timeout: 20_000, interval: 20 },
    );
    expect(s.isRunning(p.taskId)).toBe(true);
    const t0 = Date.now();
    await s.cancel(p.taskId);
    await reached(events, p.taskId, "finished");
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(s.isRunning(p.taskId)).toBe(false);
  });

  it("adopts agents after a restart, reports missing ones lost and stops unknown ones", async () => {
    const dir = mkdtempSync(join(tmpdir(), "drover-local-"));
    const first = make(dir, ["sh", "-c", "sleep 1"]);
    const orphan = make(dir, ["sh", "-c", "sleep 30"]);
    const kept = plan();
    const stray = plan();
    await first.submit(kept);
    await orphan.submit(stray);
    await first.close();
    await orphan.close();
    const second = make(dir, ["true"]);
    const events: TaskStatusEvent[] = [];
    second.watch((e) => events.push(e));
    const missing = randomUUID();
    await second.reconcile(new Set([kept.taskId, missing]));
    expect(events.find((e) => e.taskId === kept.taskId)?.status.state).toBe("running");
    expect(events.find((e) => e.taskId === missing)?.status).toMatchObject({ state: "lost" });
    await vi.waitFor(() => expect(second.isRunning(stray.taskId)).toBe(false), {
      timeout: 5_000,
      interval: 50,
    });
    await reached(events, kept.taskId, "finished", 5_000);
  });
});
