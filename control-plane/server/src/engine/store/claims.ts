/**
 * SQL for the task API side of a task: consuming its token, reading what its spec needs, checking
 * its session, and recording its steps. Every function runs on the caller's `Queryable`.
 */
import type { JobPlan } from "@drover/config-compiler";
import type { Queryable } from "../../db/types.js";
import type { PipelineVcs } from "../../model/records.js";
import { jsonColumn } from "./json.js";

/**
 * Consumes a task token: one atomic UPDATE marks the task `running` with the session's hash, so
 * a second claim, an unknown token or an expired one finds nothing (null).
 */
export async function claimTask(
  q: Queryable,
  tokenHash: string,
  sessionHash: string,
): Promise<{ id: string; jobId: string } | null> {
  const { rows } = await q.query<{ id: string; job_id: string }>(
    `UPDATE tasks SET claimed_at = now(), session_hash = $2, status = 'running',
            started_at = now(), token_hash = NULL
      WHERE token_hash = $1 AND claimed_at IS NULL AND token_expires_at > now()
        AND status IN ('pending', 'submitted')
      RETURNING id, job_id`,
    [tokenHash, sessionHash],
  );
  const r = rows[0];
  return r ? { id: r.id, jobId: r.job_id } : null;
}

/** A claimed task with its job, workflow, pipeline and project: what its spec is built from. */
export interface ClaimedTask {
  id: string;
  attempt: number;
  nodeIndex: number;
  nodeTotal: number;
  enableSsh: boolean;
  job: { id: string; name: string; number: number | null; plan: JobPlan };
  workflow: { id: string; name: string };
  pipeline: { id: string; number: number; vcs: Pick<PipelineVcs, "branch" | "tag" | "revision"> };
  project: {
    id: string;
    slug: string;
    repo: string;
    repositoryUrl: string;
    orgId: string;
    settings: Record<string, unknown>;
  };
  /** The user the job runs as: the rerun's or the trigger's actor. */
  userId: string | null;
  /** The keys a rerun with SSH snapshotted when it was made (null: none taken). */
  sshKeys: string[] | null;
}

interface ClaimedTaskRow {
  id: string;
  attempt: number;
  node_index: number;
  node_total: number;
  enable_ssh: boolean;
  job_id: string;
  job_name: string;
  job_number: number | null;
  plan: unknown;
  workflow_id: string;
  workflow_name: string;
  started_by: string | null;
  pipeline_id: string;
  pipeline_number: number;
  vcs: unknown;
  trigger_actor_id: string | null;
  project_id: string;
  slug: string;
  repo: string;
  repository_url: string;
  org_id: string;
  settings: unknown;
  ssh_keys: unknown;
}

export async function claimedTask(q: Queryable, taskId: string): Promise<ClaimedTask | null> {
  const { rows } = await q.query<ClaimedTaskRow>(
    `SELECT t.id, t.attempt, t.node_index, t.node_total, t.enable_ssh,
            j.id AS job_id, j.name AS job_name, j.number AS job_number, j.plan,
            w.id AS workflow_id, w.name AS workflow_name, w.started_by,
            p.id AS pipeline_id, p.number AS pipeline_number, p.vcs, p.trigger_actor_id,
            pr.id AS project_id, pr.slug, pr.name AS repo, pr.repository_url, pr.org_id,
            pr.settings, wsk.public_keys AS ssh_keys
       FROM tasks t JOIN jobs j ON j.id = t.job_id JOIN workflows w ON w.id = t.workflow_id
       JOIN pipelines p ON p.id = w.pipeline_id JOIN projects pr ON pr.id = p.project_id
       LEFT JOIN workflow_ssh_keys wsk ON wsk.workflow_id = w.id
      WHERE t.id = $1`,
    [taskId],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    id: r.id,
    attempt: r.attempt,
    nodeIndex: r.node_index,
    nodeTotal: r.node_total,
    enableSsh: r.enable_ssh,
    job: {
      id: r.job_id,
      name: r.job_name,
      number: r.job_number,
      plan: jsonColumn<JobPlan>(r.plan),
    },
    workflow: { id: r.workflow_id, name: r.workflow_name },
    pipeline: {
      id: r.pipeline_id,
      number: r.pipeline_number,
      vcs: jsonColumn(r.vcs),
    },
    project: {
      id: r.project_id,
      slug: r.slug,
      repo: r.repo,
      repositoryUrl: r.repository_url,
      orgId: r.org_id,
      settings: jsonColumn<Record<string, unknown>>(r.settings) ?? {},
    },
    userId: r.started_by ?? r.trigger_actor_id ?? null,
    sshKeys: r.ssh_keys == null ? null : jsonColumn<string[]>(r.ssh_keys),
  };
}

/** What the task-session auth hook puts on a request to `/internal/v1/tasks/{id}/...`. */
export interface TaskPrincipal {
  taskId: string;
  jobId: string;
  jobName: string;
  workflowId: string;
  pipelineId: string;
  projectId: string;
  projectSlug: string;
  nodeIndex: number;
}

interface PrincipalRow {
  node_index: number;
  job_id: string;
  job_name: string;
  workflow_id: string;
  pipeline_id: string;
  project_id: string;
  slug: string;
}

/** The running task a session hash belongs to; null when none (or the task is final). */
export async function sessionPrincipal(
  q: Queryable,
  taskId: string,
  sessionHash: string,
): Promise<TaskPrincipal | null> {
  const { rows } = await q.query<PrincipalRow>(
    `SELECT t.node_index, j.id AS job_id, j.name AS job_name, w.id AS workflow_id,
            w.pipeline_id, pr.id AS project_id, pr.slug
       FROM tasks t JOIN jobs j ON j.id = t.job_id JOIN workflows w ON w.id = t.workflow_id
       JOIN projects pr ON pr.id = w.project_id
      WHERE t.id = $1 AND t.session_hash = $2 AND t.status = 'running'`,
    [taskId, sessionHash],
  );
  const r = rows[0];
  if (!r) return null;
  return {
    taskId,
    jobId: r.job_id,
    jobName: r.job_name,
    workflowId: r.workflow_id,
    pipelineId: r.pipeline_id,
    projectId: r.project_id,
    projectSlug: r.slug,
    nodeIndex: r.node_index,
  };
}

/** Records a step start once (a repeated event changes nothing). */
export async function stepStarted(
  q: Queryable,
  taskId: string,
  e: { step: number; name: string; at: string },
): Promise<void> {
  await q.query(
    `INSERT INTO task_steps (task_id, step, name, status, started_at)
     VALUES ($1, $2, $3, 'running', $4) ON CONFLICT (task_id, step) DO NOTHING`,
    [taskId, e.step, e.name, e.at],
  );
}

/** Records a step's end once: a step already finished keeps its first result. */
export async function stepFinished(
  q: Queryable,
  taskId: string,
  e: {
    step: number;
    status: string;
    exitCode: number | null;
    durationMs: number;
    message: string | null;
    at: string;
  },
): Promise<void> {
  await q.query(
    `INSERT INTO task_steps (task_id, step, name, status, exit_code, duration_ms, message, finished_at)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (task_id, step) DO UPDATE SET status = EXCLUDED.status,
         exit_code = EXCLUDED.exit_code, duration_ms = EXCLUDED.duration_ms,
         message = EXCLUDED.message, finished_at = EXCLUDED.finished_at
       WHERE task_steps.finished_at IS NULL`,
    [taskId, e.step, `step ${e.step}`, e.status, e.exitCode, e.durationMs, e.message, e.at],
  );
}
