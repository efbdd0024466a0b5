import type { Logger } from "pino";
import type { Queryable } from "../db/types.js";
import type { TaskMachines } from "./types.js";

const ACTIVE = ["pending", "submitted", "running"];

/**
 * One backstop pass: releases the machines vm-service holds for tasks that are final or unknown
 * here (a release at task end that failed, a control plane that died mid-task). Returns the task
 * ids whose machines it released.
 */
export async function releaseMachinesOfFinishedTasks(
  db: Queryable,
  machines: TaskMachines,
  log: Logger,
): Promise<string[]> {
  const leased = await machines.leasedTasks();
  if (leased.length === 0) return [];
  const ids = leased.filter((id) => /^[0-9a-f-]{36}$/i.test(id));
  const { rows } = await db.query<{ id: string }>(
    `SELECT id FROM tasks WHERE id = ANY($1::uuid[]) AND status = ANY($2::text[])`,
    [ids, ACTIVE],
  );
  const active = new Set(rows.map((r) => r.id));
  const done = leased.filter((id) => !active.has(id));
  for (const taskId of done) {
    log.warn({ taskId }, "releasing the machine of a task that is no longer active");
    await machines
      .releaseTask(taskId)
      .catch((err: unknown) => log.warn({ err, taskId }, "backstop release failed"));
  }
  return done;
}
