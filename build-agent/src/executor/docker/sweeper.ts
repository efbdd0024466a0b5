import type Docker from "dockerode";
import { LABEL_HOST, LABEL_PID, LABEL_START, LABEL_TASK } from "./docker-executor.js";
import { removeNetwork } from "./job-network.js";
import { processStart } from "./process-start.js";

export interface SweepOptions {
  /** This host's name: only containers of agents on this host are judged by pid. */
  host: string;
  /**
   * Whether the agent process is alive: default, the pid exists and (when the container records
   * it) started at the recorded time, so a reused pid does not keep orphans forever.
   */
  isAlive?: (pid: number, start: string | undefined) => boolean;
  /** Extra check for tasks the control plane knows are final (e.g. after an agent restart). */
  isTaskRunning?: (taskId: string) => boolean;
}

function pidAlive(pid: number, start: string | undefined): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EPERM") return false;
  }
  if (start === undefined) return true;
  const now = processStart(pid);
  return now === undefined || now === start;
}

/**
 * Removes containers and job networks labelled with a task whose agent is gone: the agent's pid no
 * longer exists on this host or now belongs to another process (killed with -9, crashed), or
 * `isTaskRunning` says the task is over. Returns the ids of the tasks swept. Safe to run at any
 * time, concurrently with live agents.
 */
export async function sweepOrphans(docker: Docker, opts: SweepOptions): Promise<string[]> {
  const alive = opts.isAlive ?? pidAlive;
  const orphaned = (labels: Record<string, string> | undefined): boolean => {
    const l = labels ?? {};
    const task = l[LABEL_TASK] ?? "";
    if (opts.isTaskRunning && !opts.isTaskRunning(task)) return true;
    if (l[LABEL_HOST] !== opts.host) return false;
    const pid = Number(l[LABEL_PID]);
    return !Number.isInteger(pid) || pid <= 0 || !alive(pid, l[LABEL_START]);
  };
  const list = await docker.listContainers({ all: true, filters: { label: [LABEL_TASK] } });
  const orphans = list.filter((c) => orphaned(c.Labels));
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
  // After the containers: a network with endpoints cannot be removed (the next sweep retries).
  const networks = (await docker.listNetworks({ filters: { label: [LABEL_TASK] } })).filter((n) =>
    orphaned(n.Labels),
  );
  await Promise.all(
    networks.map((n) =>
      removeNetwork(docker, n.Id).catch((err: { statusCode?: number }) => {
        if (err.statusCode !== 403 && err.statusCode !== 409) throw err;
      }),
    ),
  );
  const tasks = [...orphans.map((c) => c.Labels), ...networks.map((n) => n.Labels)];
  return [...new Set(tasks.map((l) => l?.[LABEL_TASK] ?? ""))];
}
