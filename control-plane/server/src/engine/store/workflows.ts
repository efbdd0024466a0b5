/** SQL on the `workflows` table for the engine. Every function runs on the caller's `Queryable`. */
import type { Queryable } from "../../db/types.js";
import { notFound } from "../../model/errors.js";
import type { JobStatus, Workflow, WorkflowStatus } from "../../model/records.js";
import { toWorkflow } from "../../model/rows.js";
import { getWorkflow } from "../../model/workflows.js";

export interface NewWorkflow {
  id: string;
  pipelineId: string;
  projectId: string;
  name: string;
  startedBy: string | null;
  /** Set on a rerun: the workflow it reruns and the statuses of the jobs it did not copy. */
  rerunOf?: string;
  carried?: Record<string, JobStatus>;
}

/** Inserts a workflow in status `running`. */
export async function insertWorkflow(q: Queryable, wf: NewWorkflow): Promise<void> {
  await q.query(
    `INSERT INTO workflows (id, pipeline_id, project_id, name, status, rerun_of, carried, started_by)
     VALUES ($1, $2, $3, $4, 'running', $5, $6::jsonb, $7)`,
    [
      wf.id,
      wf.pipelineId,
      wf.projectId,
      wf.name,
      wf.rerunOf ?? null,
      JSON.stringify(wf.carried ?? {}),
      wf.startedBy,
    ],
  );
}

/** Locks the workflow row for the rest of the transaction (`DROVER_ERR_NOT_FOUND` if absent). */
export async function lockWorkflow(tx: Queryable, workflowId: string): Promise<Workflow> {
  const { rows } = await tx.query("SELECT * FROM workflows WHERE id = $1 FOR UPDATE", [workflowId]);
  if (!rows[0]) throw notFound("workflow");
  return toWorkflow(rows[0]);
}

/** Reads a workflow (`DROVER_ERR_NOT_FOUND` if absent). */
export async function readWorkflow(q: Queryable, workflowId: string): Promise<Workflow> {
  const wf = await getWorkflow(q, workflowId);
  if (!wf) throw notFound("workflow");
  return wf;
}

/** Stores the status; `final` sets `stopped_at` once (kept on later writes), else clears it. */
export async function setWorkflowStatus(
  q: Queryable,
  workflowId: string,
  status: WorkflowStatus,
  final: boolean,
): Promise<void> {
  await q.query(
    `UPDATE workflows SET status = $2,
        stopped_at = CASE WHEN $3 THEN COALESCE(stopped_at, now()) ELSE NULL END
      WHERE id = $1`,
    [workflowId, status, final],
  );
}

export async function markWorkflowCanceled(
  q: Queryable,
  workflowId: string,
  userId: string | null,
): Promise<void> {
  await q.query("UPDATE workflows SET canceled_at = now(), canceled_by = $2 WHERE id = $1", [
    workflowId,
    userId,
  ]);
}

/** The workflow a workflow reran, or null. */
export async function rerunOf(q: Queryable, workflowId: string): Promise<string | null> {
  const { rows } = await q.query<{ rerun_of: string | null }>(
    "SELECT rerun_of FROM workflows WHERE id = $1",
    [workflowId],
  );
  return rows[0]?.rerun_of ?? null;
}
