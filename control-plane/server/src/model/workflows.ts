import type { Queryable } from "../db/types.js";
import { z } from "zod";
import {
  cursorInteger,
  decodePageToken,
  encodePageToken,
  type Page,
  PAGE_SIZE,
} from "./pagination.js";
import type { Job, Task, TaskStep, Workflow } from "./records.js";
import { toJob, toTask, toTaskStep, toWorkflow } from "./rows.js";

const OFFSET_CURSOR = z.object({ o: cursorInteger }).strict();

export async function getWorkflow(q: Queryable, id: string): Promise<Workflow | null> {
  const { rows } = await q.query("SELECT * FROM workflows WHERE id = $1", [id]);
  return rows[0] ? toWorkflow(rows[0]) : null;
}

export async function listWorkflowsOfPipeline(
  q: Queryable,
  pipelineId: string,
  opts: { pageToken?: string; pageSize?: number } = {},
): Promise<Page<Workflow>> {
  const size = opts.pageSize ?? PAGE_SIZE;
  const offset = decodePageToken(opts.pageToken, OFFSET_CURSOR)?.o ?? 0;
  const { rows } = await q.query(
    "SELECT * FROM workflows WHERE pipeline_id = $1 ORDER BY created_at, id OFFSET $2 LIMIT $3",
    [pipelineId, offset, size + 1],
  );
  return {
    items: rows.slice(0, size).map(toWorkflow),
    nextPageToken: rows.length > size ? encodePageToken({ o: offset + size }) : null,
  };
}

export async function listJobs(q: Queryable, workflowId: string): Promise<Job[]> {
  const { rows } = await q.query("SELECT * FROM jobs WHERE workflow_id = $1 ORDER BY position", [
    workflowId,
  ]);
  return rows.map(toJob);
}

export async function getJob(q: Queryable, id: string): Promise<Job | null> {
  const { rows } = await q.query("SELECT * FROM jobs WHERE id = $1", [id]);
  return rows[0] ? toJob(rows[0]) : null;
}

export async function getJobByNumber(
  q: Queryable,
  projectId: string,
  number: number,
): Promise<Job | null> {
  const { rows } = await q.query("SELECT * FROM jobs WHERE project_id = $1 AND number = $2", [
    projectId,
    number,
  ]);
  return rows[0] ? toJob(rows[0]) : null;
}

export async function listTasksOfJob(q: Queryable, jobId: string): Promise<Task[]> {
  const { rows } = await q.query(
    "SELECT * FROM tasks WHERE job_id = $1 ORDER BY attempt, node_index",
    [jobId],
  );
  return rows.map(toTask);
}

export async function listTaskSteps(q: Queryable, taskId: string): Promise<TaskStep[]> {
  const { rows } = await q.query(
    "SELECT * FROM task_steps WHERE task_id = $1 ORDER BY started_at NULLS LAST, step",
    [taskId],
  );
  return rows.map(toTaskStep);
}
