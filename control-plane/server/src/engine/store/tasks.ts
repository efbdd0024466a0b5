/**
 * SQL on the `tasks` table for the engine: creating a job's tasks, the submission lease, results
 * and cancellation. Every function runs on the caller's `Queryable`.
 */
import { randomUUID } from "node:crypto";
import type { Queryable } from "../../db/types.js";
import { ACTIVE_TASK_STATUSES, type TaskStatus } from "../../model/records.js";
import { jsonColumn } from "./json.js";

export interface NewTask {
  jobId: string;
  workflowId: string;
  nodeIndex: number;
  nodeTotal: number;
  enableSsh: boolean;
}

/** Inserts attempt-1 tasks `pending` with one INSERT. */
export async function insertTasks(q: Queryable, tasks: NewTask[]): Promise<void> {
  if (tasks.length === 0) return;
  const values: string[] = [];
  const params: unknown[] = [];
  for (const t of tasks) {
    const b = params.length;
    values.push(`($${b + 1}, $${b + 2}, $${b + 3}, 1, $${b + 4}, $${b + 5}, 'pending', $${b + 6})`);
    params.push(randomUUID(), t.jobId, t.workflowId, t.nodeIndex, t.nodeTotal, t.enableSsh);
  }
  await q.query(
    `INSERT INTO tasks (id, job_id, workflow_id, attempt, node_index, node_total, status, enable_ssh)
     VALUES ${values.join(", ")}`,
    params,
  );
}

/** Tasks handed to a backend and not final (of one instance, or of all when `instanceId` is null). */
export async function activeTaskIds(q: Queryable, instanceId: string | null): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM tasks WHERE status IN ('submitted', 'running')
        AND ($1::text IS NULL OR scheduler_instance = $1)`,
    [instanceId],
  );
  return rows.map((r) => r.id);
}

/** Submitted tasks whose token expired before any agent claimed it. */
export async function expiredUnclaimedTaskIds(q: Queryable): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM tasks WHERE status = 'submitted' AND claimed_at IS NULL
        AND token_expires_at < now()`,
  );
  return rows.map((r) => r.id);
}

/** Pending tasks no instance holds, oldest first (all, or those of some workflows). */
export async function pendingTaskIds(
  q: Queryable,
  workflowIds: string[] | null,
  limit: number,
): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `SELECT id FROM tasks WHERE status = 'pending'
        AND (submit_lease_until IS NULL OR submit_lease_until < now())
        AND ($1::uuid[] IS NULL OR workflow_id = ANY($1::uuid[]))
      ORDER BY created_at LIMIT $2`,
    [workflowIds, limit],
  );
  return rows.map((r) => r.id);
}

/** A task taken under the submission lease, with what its plan and access check need. */
export interface LeasedTask {
  id: string;
  attempt: number;
  nodeIndex: number;
  nodeTotal: number;
  enableSsh: boolean;
  job: { id: string; name: string; number: number | null; contexts: string[] };
  resourceClass: string | null;
  executorType: string | null;
  workflow: { id: string; name: string };
  pipeline: { id: string; number: number };
  project: { id: string; slug: string; name: string; orgId: string };
  /** The user the job runs as: the rerun's or the trigger's actor. */
  userId: string | null;
}

interface LeasedTaskRow {
  id: string;
  attempt: number;
  node_index: number;
  node_total: number;
  enable_ssh: boolean;
  job_id: string;
  job_name: string;
  job_number: number | null;
  resource_class: string | null;
  executor_type: string | null;
  contexts: unknown;
  workflow_id: string;
  workflow_name: string;
  pipeline_id: string;
  pipeline_number: number;
  project_id: string;
  project_slug: string;
  project_name: string;
  org_id: string;
  user_id: string | null;
}

const toLeasedTask = (r: LeasedTaskRow): LeasedTask => ({
  id: r.id,
  attempt: r.attempt,
  nodeIndex: r.node_index,
  nodeTotal: r.node_total,
  enableSsh: r.enable_ssh,
  job: {
    id: r.job_id,
    name: r.job_name,
    number: r.job_number,
    contexts: jsonColumn<string[] | null>(r.contexts) ?? [],
  },
  resourceClass: r.resource_class,
  executorType: r.executor_type,
  workflow: { id: r.workflow_id, name: r.workflow_name },
  pipeline: { id: r.pipeline_id, number: r.pipeline_number },
  project: { id: r.project_id, slug: r.project_slug, name: r.project_name, orgId: r.org_id },
  userId: r.user_id,
});

/**
 * Takes the submission lease on every given task still pending and free, in one conditional
 * UPDATE: a task another instance leased meanwhile fails the WHERE and is not returned. Stores the
 * hash of each task's new token, its expiry and the leasing instance.
 */
export async function leaseTasks(
  q: Queryable,
  lease: {
    tokenHashes: Map<string, string>;
    tokenTtlMs: number;
    leaseMs: number;
    instanceId: string | null;
  },
): Promise<LeasedTask[]> {
  const { rows } = await q.query<LeasedTaskRow>(
    `UPDATE tasks t SET token_hash = v.hash,
            token_expires_at = now() + $3 * interval '1 millisecond',
            submit_lease_until = now() + $4 * interval '1 millisecond',
            scheduler_instance = $5
       FROM unnest($1::uuid[], $2::text[]) AS v(id, hash), jobs j, workflows w, pipelines p, projects pr
      WHERE t.id = v.id AND t.status = 'pending'
        AND (t.submit_lease_until IS NULL OR t.submit_lease_until < now())
        AND j.id = t.job_id AND w.id = t.workflow_id AND p.id = w.pipeline_id AND pr.id = p.project_id
      RETURNING t.id, t.attempt, t.node_index, t.node_total, t.enable_ssh,
                j.id AS job_id, j.name AS job_name, j.number AS job_number,
                j.plan->>'resourceClass' AS resource_class, j.plan->'executor'->>'type' AS executor_type,
                w.id AS workflow_id, w.name AS workflow_name,
                p.id AS pipeline_id, p.number AS pipeline_number,
                pr.slug AS project_slug, pr.name AS project_name,
                pr.id AS project_id, pr.org_id, j.plan->'contexts' AS contexts,
                COALESCE(w.started_by, p.trigger_actor_id) AS user_id`,
    [
      [...lease.tokenHashes.keys()],
      [...lease.tokenHashes.values()],
      lease.tokenTtlMs,
      lease.leaseMs,
      lease.instanceId,
    ],
  );
  return rows.map(toLeasedTask);
}

/** Leased tasks the backend accepted: `submitted`, lease released. */
export async function markSubmitted(q: Queryable, taskIds: string[]): Promise<void> {
  if (taskIds.length === 0) return;
  await q.query(
    `UPDATE tasks SET status = 'submitted', submitted_at = now(), submit_lease_until = NULL
      WHERE id = ANY($1::uuid[]) AND status = 'pending'`,
    [taskIds],
  );
}

export async function workflowOfTask(q: Queryable, taskId: string): Promise<string | null> {
  const { rows } = await q.query<{ workflow_id: string }>(
    "SELECT workflow_id FROM tasks WHERE id = $1",
    [taskId],
  );
  return rows[0]?.workflow_id ?? null;
}

/** Records an active task's result; returns its job id, or null if the task was already final. */
export async function finishTask(
  q: Queryable,
  taskId: string,
  result: TaskStatus,
  message: string | null,
): Promise<string | null> {
  const { rows } = await q.query<{ job_id: string }>(
    `UPDATE tasks SET status = $2, message = COALESCE($3, message), finished_at = now()
      WHERE id = $1 AND status = ANY($4::text[]) RETURNING job_id`,
    [taskId, result, message, ACTIVE_TASK_STATUSES],
  );
  return rows[0]?.job_id ?? null;
}

/** The statuses of a job's latest attempt's tasks, and whether any of its steps timed out. */
export async function latestAttempt(
  q: Queryable,
  jobId: string,
): Promise<{ tasks: Array<{ status: TaskStatus }>; anyStepTimedOut: boolean }> {
  const tasks = await q.query<{ status: TaskStatus }>(
    "SELECT status FROM tasks WHERE job_id = $1 AND attempt = (SELECT max(attempt) FROM tasks WHERE job_id = $1)",
    [jobId],
  );
  const timedOut = await q.query(
    "SELECT 1 FROM task_steps s JOIN tasks t ON t.id = s.task_id WHERE t.job_id = $1 AND s.status = 'timedout' LIMIT 1",
    [jobId],
  );
  return { tasks: tasks.rows, anyStepTimedOut: timedOut.rows.length > 0 };
}

/** Cancels the active tasks of a workflow; returns their ids. */
export async function cancelTasksOfWorkflow(q: Queryable, workflowId: string): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `UPDATE tasks SET status = 'canceled', finished_at = now()
      WHERE workflow_id = $1 AND status = ANY($2::text[]) RETURNING id`,
    [workflowId, ACTIVE_TASK_STATUSES],
  );
  return rows.map((r) => r.id);
}

/** Cancels the active tasks of a job; returns their ids. */
export async function cancelTasksOfJob(q: Queryable, jobId: string): Promise<string[]> {
  const { rows } = await q.query<{ id: string }>(
    `UPDATE tasks SET status = 'canceled', finished_at = now()
      WHERE job_id = $1 AND status = ANY($2::text[]) RETURNING id`,
    [jobId, ACTIVE_TASK_STATUSES],
  );
  return rows.map((r) => r.id);
}

/** Cancels a job's active tasks that must never run, saying why and voiding their tokens. */
export async function refuseTasksOfJob(
  q: Queryable,
  jobId: string,
  message: string,
): Promise<void> {
  await q.query(
    `UPDATE tasks SET status = 'canceled', message = $2, finished_at = now(), token_hash = NULL
      WHERE job_id = $1 AND status = ANY($3::text[])`,
    [jobId, message, ACTIVE_TASK_STATUSES],
  );
}
