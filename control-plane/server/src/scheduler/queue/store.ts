import type { Queryable } from "../../db/types.js";
import type { TaskPlan, TaskState } from "../types.js";

/** A row of `runner_tasks` as the queue's two sides read it. */
export interface QueueRow {
  taskId: string;
  state: QueueRowState;
  status: TaskState;
  eventSeq: string;
  runnerId: string | null;
  cancelRequested: boolean;
  createdAt: Date;
}

export type QueueRowState = "queued" | "claimed" | "running" | "finished" | "lost" | "canceled";

/** Row states after which nothing runs any more. */
export const FINAL_ROW_STATES: readonly QueueRowState[] = ["finished", "lost", "canceled"];

interface RawRow {
  task_id: string;
  state: QueueRowState;
  status: TaskState;
  event_seq: string | number;
  runner_id: string | null;
  cancel_requested: boolean;
  created_at: Date | string;
}

const COLUMNS = "task_id, state, status, event_seq, runner_id, cancel_requested, created_at";

function toRow(r: RawRow): QueueRow {
  return {
    taskId: r.task_id,
    state: r.state,
    status: r.status,
    eventSeq: String(r.event_seq),
    runnerId: r.runner_id,
    cancelRequested: r.cancel_requested,
    createdAt: new Date(r.created_at),
  };
}

/**
 * Queues a plan once. A second submission of a task no runner took yet replaces its plan: the
 * engine resubmits with a fresh token (the old one is void), and the agent must get the new one.
 */
export async function enqueue(q: Queryable, plan: TaskPlan): Promise<void> {
  await q.query(
    `INSERT INTO runner_tasks (task_id, plan, status, event_seq)
     VALUES ($1, $2, '{"state":"queued"}', nextval('runner_task_events_seq'))
     ON CONFLICT (task_id) DO UPDATE SET plan = EXCLUDED.plan, updated_at = now()
     WHERE runner_tasks.runner_id IS NULL AND runner_tasks.state = 'queued'`,
    [plan.taskId, JSON.stringify(plan)],
  );
}

/** Every row: the table holds active tasks and final ones not yet cleaned up. */
export async function allRows(q: Queryable): Promise<QueueRow[]> {
  const { rows } = await q.query<RawRow>(`SELECT ${COLUMNS} FROM runner_tasks`);
  return rows.map(toRow);
}

/** Rows a runner claimed that have not ended. */
export async function runnerActiveRows(q: Queryable, runnerId: string): Promise<QueueRow[]> {
  const { rows } = await q.query<RawRow>(
    `SELECT ${COLUMNS} FROM runner_tasks
     WHERE runner_id = $1 AND state IN ('claimed', 'running')`,
    [runnerId],
  );
  return rows.map(toRow);
}

/**
 * Stops a task from running: an unclaimed one never will (`canceled`, no event: the engine that
 * canceled it knows); a claimed one is flagged for its runner.
 */
export async function requestCancel(q: Queryable, taskId: string): Promise<void> {
  await q.query(
    `UPDATE runner_tasks
     SET cancel_requested = true,
         state = CASE WHEN runner_id IS NULL AND state = 'queued' THEN 'canceled' ELSE state END,
         updated_at = now()
     WHERE task_id = $1 AND NOT cancel_requested`,
    [taskId],
  );
}

/**
 * Forgets a task: at once when no runner holds it (never claimed, or its runner is gone), else
 * flagged so its runner releases its local state first.
 */
export async function requestCleanup(
  q: Queryable,
  taskId: string,
  runnerTimeoutMs: number,
): Promise<void> {
  const gone = await q.query(
    `DELETE FROM runner_tasks t
     WHERE t.task_id = $1 AND (t.runner_id IS NULL OR NOT EXISTS (
       SELECT 1 FROM runners r
       WHERE r.id = t.runner_id AND r.heartbeat_at > now() - make_interval(secs => $2)))`,
    [taskId, runnerTimeoutMs / 1000],
  );
  if (gone.rowCount > 0) return;
  await q.query(
    "UPDATE runner_tasks SET cleanup_requested = true, updated_at = now() WHERE task_id = $1",
    [taskId],
  );
}

/**
 * Tasks held by runners that stopped answering (no heartbeat for `runnerTimeoutMs`) become
 * `lost`, naming the runner; resolves to their ids.
 */
export async function loseTasksOfSilentRunners(
  q: Queryable,
  runnerTimeoutMs: number,
): Promise<string[]> {
  const { rows } = await q.query<{ task_id: string }>(
    `UPDATE runner_tasks t
     SET state = 'lost',
         status = jsonb_build_object(
           'state', 'lost',
           'at', to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
           'reason', 'runner ' || t.runner_id || ' stopped answering (no heartbeat for '
             || $1::text || ' s); its agent is gone'),
         event_seq = nextval('runner_task_events_seq'),
         updated_at = now()
     WHERE t.state IN ('claimed', 'running') AND t.runner_id IS NOT NULL
       AND NOT EXISTS (
         SELECT 1 FROM runners r
         WHERE r.id = t.runner_id AND r.heartbeat_at > now() - make_interval(secs => $2))
     RETURNING t.task_id`,
    [String(Math.round(runnerTimeoutMs / 1000)), runnerTimeoutMs / 1000],
  );
  return rows.map((r) => r.task_id);
}

/** Records a runner as alive (database time). */
export async function heartbeat(
  q: Queryable,
  runner: { id: string; host: string; capacity: number },
): Promise<void> {
  await q.query(
    `INSERT INTO runners (id, host, capacity) VALUES ($1, $2, $3)
     ON CONFLICT (id) DO UPDATE SET host = $2, capacity = $3, heartbeat_at = now()`,
    [runner.id, runner.host, runner.capacity],
  );
}

/**
 * Claims up to `limit` unclaimed tasks, oldest first; runners racing for the same rows skip the
 * ones another holds. Resolves to their plans.
 */
export async function claim(q: Queryable, runnerId: string, limit: number): Promise<TaskPlan[]> {
  if (limit <= 0) return [];
  const { rows } = await q.query<{ plan: TaskPlan }>(
    `UPDATE runner_tasks SET runner_id = $1, state = 'claimed', updated_at = now()
     WHERE task_id IN (
       SELECT task_id FROM runner_tasks
       WHERE runner_id IS NULL AND state = 'queued' AND NOT cancel_requested
       ORDER BY created_at LIMIT $2
       FOR UPDATE SKIP LOCKED)
     RETURNING plan`,
    [runnerId, limit],
  );
  return rows.map((r) => r.plan);
}

/** The task token is single-use: once the agent holds it, the queue forgets it. */
export async function forgetToken(q: Queryable, taskId: string): Promise<void> {
  await q.query(
    "UPDATE runner_tasks SET plan = plan - 'taskToken', updated_at = now() WHERE task_id = $1",
    [taskId],
  );
}

/**
 * A runner's status change of one of its tasks; a final row is never overwritten (the control
 * plane may have declared it lost). Resolves to whether the row changed.
 */
export async function recordStatus(
  q: Queryable,
  runnerId: string,
  taskId: string,
  status: TaskState,
): Promise<boolean> {
  const state: QueueRowState = status.state === "queued" ? "claimed" : status.state;
  const res = await q.query(
    `UPDATE runner_tasks
     SET state = $3, status = $4, event_seq = nextval('runner_task_events_seq'), updated_at = now()
     WHERE task_id = $1 AND runner_id = $2 AND state IN ('claimed', 'running')`,
    [taskId, runnerId, state, JSON.stringify(status)],
  );
  return res.rowCount > 0;
}

/** Claimed tasks whose cancel the runner has not carried out yet. */
export async function pendingCancels(q: Queryable, runnerId: string): Promise<string[]> {
  const { rows } = await q.query<{ task_id: string }>(
    `SELECT task_id FROM runner_tasks
     WHERE runner_id = $1 AND cancel_requested AND NOT cancel_sent`,
    [runnerId],
  );
  return rows.map((r) => r.task_id);
}

export async function markCancelSent(q: Queryable, taskId: string): Promise<void> {
  await q.query("UPDATE runner_tasks SET cancel_sent = true WHERE task_id = $1", [taskId]);
}

/** Tasks of this runner the control plane is done with. */
export async function pendingCleanups(q: Queryable, runnerId: string): Promise<string[]> {
  const { rows } = await q.query<{ task_id: string }>(
    "SELECT task_id FROM runner_tasks WHERE runner_id = $1 AND cleanup_requested",
    [runnerId],
  );
  return rows.map((r) => r.task_id);
}

export async function removeRow(q: Queryable, taskId: string): Promise<void> {
  await q.query("DELETE FROM runner_tasks WHERE task_id = $1", [taskId]);
}
