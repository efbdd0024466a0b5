import type Docker from "dockerode";
import { LABEL_HOST, LABEL_PID, LABEL_TASK } from "./docker-executor.js";

export interface SweepOptions {
  /** This host's name: only containers of agents on this host are judged by pid. */
  host: string;
  /** Whether an agent process is alive (default: `process.kill(pid, 0)`). */
  isAlive?: (pid: number) => boolean;
  /** Extra check for tasks the control plane knows are final (e.g. after an agent restart). */
  isTaskRunning?: (taskId: string) => boolean;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * Removes containers labelled with a task whose agent is gone: the agent's pid no longer exists on
 * this host (killed with -9, crashed), or `isTaskRunning` says the task is over. Returns the ids of
 * the tasks swept. Safe to run at any time, concurrently with live agents.
 */
export async function sweepOrphans(docker: Docker, opts: SweepOptions): Promise<string[]> {
  const alive = opts.isAlive ?? pidAlive;
  const list = await docker.listContainers({ all: true, filters: { label: [LABEL_TASK] } });
  const orphans = list.filter((c) => {
    const task = c.Labels[LABEL_TASK] ?? "";
    if (opts.isTaskRunning && !opts.isTaskRunning(task)) return true;
    if (c.Labels[LABEL_HOST] !== opts.host) return false;
    const pid = Number(c.Labels[LABEL_PID]);
    return !Number.isInteger(pid) || pid <= 0 || !alive(pid);
  });
  await Promise.all(
    orphans.map((c) =>
      docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch((err: { statusCode?: number }) => {
          if (err.statusCode !== 404 && err.statusCode !== 409) throw err;
        }),
    ),
  );
  return [...new Set(orphans.map((c) => c.Labels[LABEL_TASK] ?? ""))];
}
