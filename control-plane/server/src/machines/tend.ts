import type { Logger } from "pino";
import type { Queryable } from "../db/types.js";
import type { TaskMachines } from "./types.js";

const ACTIVE = ["pending", "submitted", "running"];

/** A lease of an active task running out sooner than this is renewed. */
export const RENEW_WITHIN_MS = 30 * 60_000;

/**
 * One pass over the machines vm-service holds for tasks: those of tasks that are final or unknown
 * here are released (a release at task end that failed, a control plane that died mid-task);
 * those of active tasks whose lease runs out within `RENEW_WITHIN_MS` are renewed, so a job longer
 * than a lease keeps its machine. Returns the task ids of each.
 */
export async function tendTaskMachines(
  db: Queryable,
  machines: TaskMachines,
  log: Logger,
  now: () => Date = () => new Date(),
): Promise<{ released: string[]; renewed: string[] }> {
  const leases = await machines.leases();
  if (leases.length === 0) return { released: [], renewed: [] };
  const ids = leases.map((l) => l.taskId).filter((id) => /^[0-9a-f-]{36}$/i.test(id));
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM tasks WHERE id = ANY($1::uuid[]) AND status = ANY($2::text[])`,
    [ids, ACTIVE],
  );
  const active = new Set(rows.map((r) => r.id));
  const released: string[] = [];
  const renewed: string[] = [];
  for (const lease of leases) {
    const { taskId } = lease;
    if (!active.has(taskId)) {
      log.warn({ taskId }, "releasing the machine of a task that is no longer active");
      await machines
        .releaseTask(taskId)
        .then(() => released.push(taskId))
        .catch((err: unknown) => log.warn({ err, taskId }, "backstop release failed"));
    } else if (lease.expiresAt.getTime() - now().getTime() < RENEW_WITHIN_MS) {
      await machines
        .renew(lease.leaseId)
        .then(() => renewed.push(taskId))
        .catch((err: unknown) => log.warn({ err, taskId }, "renewing the machine's lease failed"));
    }
  }
  return { released, renewed };
}
