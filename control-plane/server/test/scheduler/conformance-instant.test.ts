/** The conformance suite against the instant test backend; the harness plays its agents. */
import { InstantScheduler } from "@drover/control-plane";
import { schedulerConformance } from "./conformance.js";

schedulerConformance("instant", async () => {
  // Its tasks live in the instance: a restart is the same instance with new listeners.
  const scheduler = new InstantScheduler();
  const started = new Set<string>();
  const finished = new Set<string>();
  const at = (): string => new Date().toISOString();
  return {
    open: async () => scheduler,
    unavailable: async () => {
      scheduler.setAvailable(false);
      return { backend: scheduler, restore: async () => scheduler.setAvailable(true) };
    },
    started: async (taskId) => {
      await scheduler.waitFor((plans) => plans.some((p) => p.taskId === taskId));
      if (started.has(taskId)) return;
      started.add(taskId);
      scheduler.emit({ taskId, status: { state: "running", at: at(), host: "instant" } });
    },
    finish: async (taskId, exitCode) => {
      finished.add(taskId);
      scheduler.emit({ taskId, status: { state: "finished", at: at(), exitCode } });
    },
    starts: (taskId) => (started.has(taskId) ? 1 : 0),
    running: (taskId) =>
      started.has(taskId) && !finished.has(taskId) && !scheduler.canceled.has(taskId),
    handed: (taskId) => {
      const p = scheduler.submitted.get(taskId);
      return p && { token: p.taskToken, outputUrl: p.outputUrl };
    },
    close: async () => undefined,
  };
});
