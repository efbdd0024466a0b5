/** SQL on the `jobs` table for the engine. Every function runs on the caller's `Queryable`. */
import { randomUUID } from "node:crypto";
import type { JobRequirement } from "@drover/config-compiler";
import type { Queryable } from "../../db/types.js";
import type { Job, JobStatus } from "../../model/records.js";
import { toJob } from "../../model/rows.js";
import { jsonColumn } from "./json.js";

/** What the workflow rules need of a job. */
export type JobForRules = Pick<
  Job,
  "id" | "name" | "type" | "status" | "requires" | "parallelism" | "enableSsh"
>;

export interface NewJob {
  plan: Job["plan"];
  position: number;
  enableSsh: boolean;
  rerunOf: string | null;
}

/** The columns a job audit event carries. */
export interface JobAuditRow {
  id: string;
  name: string;
  number: number | null;
  status: string;
  workflow_id: string;
  project_id: string;
}
const AUDIT_COLUMNS = "id, name, number, status, workflow_id, project_id";

/** Jobs that may still be canceled. */
const UNFINISHED = "('blocked', 'queued', 'running', 'on_hold')";

/** Inserts jobs `blocked` with one INSERT; returns them as the rules see them. */
export async function insertJobs(
  q: Queryable,
  workflowId: string,
  projectId: string,
  jobs: NewJob[],
): Promise<JobForRules[]> {
  if (jobs.length === 0) return [];
  const values: string[] = [];
  const params: unknown[] = [];
  const inserted: JobForRules[] = [];
  for (const j of jobs) {
    const id = randomUUID();
    const parallelism = Math.max(1, j.plan.parallelism);
    inserted.push({
      id,
      name: j.plan.name,
      type: j.plan.type,
      status: "blocked",
      requires: j.plan.requires,
      parallelism,
      enableSsh: j.enableSsh,
    });
    const b = params.length;
    values.push(
      `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, NULL, 'blocked', $${b + 7}::jsonb, $${b + 8}::jsonb, $${b + 9}, $${b + 10}, $${b + 11})`,
    );
    params.push(
      id,
      workflowId,
      projectId,
      j.position,
      j.plan.name,
      j.plan.type,
      JSON.stringify(j.plan.requires),
      JSON.stringify(j.plan),
      parallelism,
      j.enableSsh,
      j.rerunOf,
    );
  }
  await q.query(
    `INSERT INTO jobs (id, workflow_id, project_id, position, name, type, number, status, requires,
                       plan, parallelism, enable_ssh, rerun_of)
     VALUES ${values.join(", ")}`,
    params,
  );
  return inserted;
}

/**
 * Gives build jobs their project-wide numbers, in the order given. The project row (the counter)
 * stays locked until commit: call it last in the transaction.
 */
export async function numberJobs(q: Queryable, projectId: string, jobIds: string[]): Promise<void> {
  if (jobIds.length === 0) return;
  await q.query(
    `WITH n AS (
       UPDATE projects SET next_job_number = next_job_number + $2 WHERE id = $1
       RETURNING next_job_number - $2 AS first)
     UPDATE jobs SET number = n.first + array_position($3::uuid[], jobs.id) - 1
       FROM n WHERE jobs.id = ANY($3::uuid[])`,
    [projectId, jobIds.length, jobIds],
  );
}

/** Moves blocked jobs on: `queued` stamps `queued_at`, `not_run` stamps `stopped_at`. */
export async function moveJobs(
  q: Queryable,
  jobIds: string[],
  to: "queued" | "on_hold" | "not_run",
): Promise<void> {
  if (jobIds.length === 0) return;
  await q.query(
    `UPDATE jobs SET status = $2,
        queued_at = CASE WHEN $2 = 'queued' THEN now() ELSE queued_at END,
        stopped_at = CASE WHEN $2 = 'not_run' THEN now() ELSE stopped_at END
      WHERE id = ANY($1::uuid[])`,
    [jobIds, to],
  );
}

/** `queued` -> `running` (first claim of a node); null if the job was not queued. */
export async function startJob(q: Queryable, jobId: string): Promise<JobAuditRow | null> {
  const { rows } = await q.query<JobAuditRow>(
    `UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, now())
      WHERE id = $1 AND status = 'queued'
      RETURNING ${AUDIT_COLUMNS}`,
    [jobId],
  );
  return rows[0] ?? null;
}

/** `queued`/`running` -> a final status; null if the job was in neither. */
export async function finishJob(
  q: Queryable,
  jobId: string,
  status: JobStatus,
): Promise<JobAuditRow | null> {
  const { rows } = await q.query<JobAuditRow>(
    `UPDATE jobs SET status = $2, stopped_at = now()
      WHERE id = $1 AND status IN ('queued', 'running')
      RETURNING ${AUDIT_COLUMNS}`,
    [jobId, status],
  );
  return rows[0] ?? null;
}

/** `queued` -> `unauthorized` (context access refused before it ran). */
export async function refuseJob(q: Queryable, jobId: string): Promise<void> {
  await q.query(
    "UPDATE jobs SET status = 'unauthorized', stopped_at = now() WHERE id = $1 AND status = 'queued'",
    [jobId],
  );
}

/** The workflow's approval job whose id is `requestId` (compared as text: any string is safe). */
export async function findApprovalJob(
  q: Queryable,
  workflowId: string,
  requestId: string,
): Promise<Job | null> {
  const { rows } = await q.query(
    "SELECT * FROM jobs WHERE workflow_id = $1 AND id::text = $2 AND type = 'approval'",
    [workflowId, requestId],
  );
  return rows[0] ? toJob(rows[0]) : null;
}

/** Ends an approval job `success`, approved by `userId`. */
export async function approveJob(
  q: Queryable,
  jobId: string,
  userId: string,
): Promise<JobAuditRow | null> {
  const { rows } = await q.query<JobAuditRow>(
    `UPDATE jobs SET status = 'success', approved_by = $2, stopped_at = now() WHERE id = $1
     RETURNING ${AUDIT_COLUMNS}`,
    [jobId, userId],
  );
  return rows[0] ?? null;
}

/** Cancels every unfinished job of a workflow. */
export async function cancelJobsOfWorkflow(
  q: Queryable,
  workflowId: string,
  userId: string | null,
): Promise<void> {
  await q.query(
    `UPDATE jobs SET status = 'canceled', canceled_by = $2, stopped_at = now()
      WHERE workflow_id = $1 AND status IN ${UNFINISHED}`,
    [workflowId, userId],
  );
}

/** Cancels one job if unfinished; false if it was already final. */
export async function cancelJob(
  q: Queryable,
  jobId: string,
  userId: string | null,
): Promise<boolean> {
  const { rows } = await q.query(
    `UPDATE jobs SET status = 'canceled', canceled_by = $2, stopped_at = now()
      WHERE id = $1 AND status IN ${UNFINISHED} RETURNING id`,
    [jobId, userId],
  );
  return rows.length > 0;
}

export async function workflowOfJob(q: Queryable, jobId: string): Promise<string | null> {
  const { rows } = await q.query<{ workflow_id: string }>(
    "SELECT workflow_id FROM jobs WHERE id = $1",
    [jobId],
  );
  return rows[0]?.workflow_id ?? null;
}

/** A job's name and workflow, for walking its requirements. */
export async function jobName(
  q: Queryable,
  jobId: string,
): Promise<{ workflowId: string; name: string } | null> {
  const { rows } = await q.query<{ workflow_id: string; name: string }>(
    "SELECT workflow_id, name FROM jobs WHERE id = $1",
    [jobId],
  );
  const r = rows[0];
  return r ? { workflowId: r.workflow_id, name: r.name } : null;
}

/** Every job of a workflow with its requirements (unordered). */
export async function jobRequirements(
  q: Queryable,
  workflowId: string,
): Promise<Array<{ id: string; name: string; requires: JobRequirement[] }>> {
  const { rows } = await q.query<{ id: string; name: string; requires: unknown }>(
    "SELECT id, name, requires FROM jobs WHERE workflow_id = $1",
    [workflowId],
  );
  return rows.map((r) => ({ id: r.id, name: r.name, requires: jsonColumn(r.requires) }));
}

/** Ids and names of a workflow's jobs with the given names. */
export async function jobsNamed(
  q: Queryable,
  workflowId: string,
  names: string[],
): Promise<Array<{ id: string; name: string }>> {
  const { rows } = await q.query<{ id: string; name: string }>(
    "SELECT id, name FROM jobs WHERE workflow_id = $1 AND name = ANY($2::text[])",
    [workflowId, names],
  );
  return rows;
}
