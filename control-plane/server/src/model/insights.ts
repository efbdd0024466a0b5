/**
 * Insights over stored runs (CircleCI's `/insights` API): per-workflow metrics, a workflow's
 * runs, and flaky tests. A run is a finished workflow (success, failed, error or canceled);
 * durations are seconds from creation to stop.
 */
import { z } from "zod";
import type { Queryable } from "../db/types.js";
import { PAGE_SIZE, decodePageToken, encodePageToken, type Page } from "./pagination.js";

/** Which runs count: one project, a time window, one branch or all (null). */
export interface RunFilter {
  projectId: string;
  from: Date;
  to: Date;
  /** null: every branch. */
  branches: string[] | null;
  workflowName?: string;
}

export interface DurationMetrics {
  min: number;
  mean: number;
  median: number;
  p95: number;
  max: number;
  standard_deviation: number;
}

export interface WorkflowMetrics {
  name: string;
  total_runs: number;
  successful_runs: number;
  failed_runs: number;
  success_rate: number;
  /** Runs per day of the window. */
  throughput: number;
  /** Mean seconds from a failed run's stop to the next successful run's stop. */
  mttr: number;
  total_recoveries: number;
  total_credits_used: number;
  duration_metrics: DurationMetrics;
}

export interface WorkflowRun {
  id: string;
  branch: string;
  duration: number;
  created_at: string;
  stopped_at: string;
  credits_used: number;
  status: "success" | "failed" | "error" | "canceled";
}

export interface FlakyTest {
  "test-name": string;
  classname: string;
  file: string;
  source: string;
  "times-flaked": number;
  "time-wasted": number;
  "workflow-name": string;
  "job-name": string;
  "workflow-id": string;
  "workflow-created-at": string;
  "pipeline-number": number;
  "job-number": number;
}

const FINAL = ["success", "failed", "error", "canceled"];

/** The finished runs of the filter, as a CTE body with parameters $1..$5. */
const RUNS = `SELECT w.id, w.name, w.status, w.created_at, w.stopped_at,
    coalesce(p.vcs->>'branch', '') AS branch,
    extract(epoch FROM w.stopped_at - w.created_at)::float8 AS d
  FROM workflows w JOIN pipelines p ON p.id = w.pipeline_id
  WHERE w.project_id = $1 AND w.stopped_at IS NOT NULL AND w.status = ANY($2::text[])
    AND w.created_at >= $3 AND w.created_at < $4
    AND ($5::text[] IS NULL OR p.vcs->>'branch' = ANY($5::text[]))`;

const runParams = (f: RunFilter): unknown[] => [f.projectId, FINAL, f.from, f.to, f.branches];

const int = (v: unknown): number => Math.max(0, Math.round(Number(v ?? 0)));

/** Metrics per workflow name (sorted by name), paged by name. */
export async function workflowMetrics(
  q: Queryable,
  f: RunFilter,
  pageToken?: string,
): Promise<Page<WorkflowMetrics>> {
  const after = decodePageToken(pageToken, z.object({ a: z.string() }).strict())?.a ?? null;
  const { rows } = await q.query(
    `WITH runs AS (${RUNS}),
     marked AS (
       SELECT name, status, stopped_at,
         lag(status) OVER (PARTITION BY name ORDER BY created_at, id) AS prev_status,
         lag(stopped_at) OVER (PARTITION BY name ORDER BY created_at, id) AS prev_stop
       FROM runs),
     recoveries AS (
       SELECT name, count(*)::int AS n,
         avg(extract(epoch FROM stopped_at - prev_stop))::float8 AS mttr
       FROM marked WHERE status = 'success' AND prev_status IN ('failed', 'error')
       GROUP BY name)
     SELECT r.name, count(*)::int AS total,
       count(*) FILTER (WHERE r.status = 'success')::int AS ok,
       count(*) FILTER (WHERE r.status IN ('failed', 'error'))::int AS failed,
       min(r.d) AS min, max(r.d) AS max, avg(r.d)::float8 AS mean,
       percentile_cont(0.5) WITHIN GROUP (ORDER BY r.d) AS median,
       percentile_cont(0.95) WITHIN GROUP (ORDER BY r.d) AS p95,
       coalesce(stddev_samp(r.d), 0)::float8 AS sd,
       max(rc.n) AS recoveries, max(rc.mttr) AS mttr
     FROM runs r LEFT JOIN recoveries rc ON rc.name = r.name
     WHERE ($6::text IS NULL OR r.name > $6) AND ($7::text IS NULL OR r.name = $7)
     GROUP BY r.name ORDER BY r.name LIMIT $8`,
    [...runParams(f), after, f.workflowName ?? null, PAGE_SIZE + 1],
  );
  const days = Math.max((f.to.getTime() - f.from.getTime()) / 86_400_000, 1 / 24);
  const items = rows.slice(0, PAGE_SIZE).map((r) => {
    const total = Number(r.total);
    const ok = Number(r.ok);
    return {
      name: String(r.name),
      total_runs: total,
      successful_runs: ok,
      failed_runs: Number(r.failed),
      success_rate: total > 0 ? ok / total : 0,
      throughput: total / days,
      mttr: int(r.mttr),
      total_recoveries: int(r.recoveries),
      total_credits_used: 0,
      duration_metrics: {
        min: int(r.min),
        mean: int(r.mean),
        median: int(r.median),
        p95: int(r.p95),
        max: int(r.max),
        standard_deviation: Number(r.sd),
      },
    };
  });
  const last = items[items.length - 1];
  return {
    items,
    nextPageToken: rows.length > PAGE_SIZE && last ? encodePageToken({ a: last.name }) : null,
  };
}

const RUN_CURSOR = z.object({ t: z.string().datetime(), i: z.uuid() }).strict();

/** Runs of one workflow, newest first, keyset-paged. */
export async function workflowRuns(
  q: Queryable,
  f: RunFilter & { workflowName: string },
  pageToken?: string,
): Promise<Page<WorkflowRun>> {
  const c = decodePageToken(pageToken, RUN_CURSOR);
  const { rows } = await q.query(
    `WITH runs AS (${RUNS})
     SELECT * FROM runs WHERE name = $6
       AND ($7::timestamptz IS NULL OR (created_at, id) < ($7::timestamptz, $8::uuid))
     ORDER BY created_at DESC, id DESC LIMIT $9`,
    [...runParams(f), f.workflowName, c?.t ?? null, c?.i ?? null, PAGE_SIZE + 1],
  );
  const items = rows.slice(0, PAGE_SIZE).map((r) => ({
    id: String(r.id),
    branch: String(r.branch),
    duration: int(r.d),
    created_at: new Date(r.created_at as string).toISOString(),
    stopped_at: new Date(r.stopped_at as string).toISOString(),
    credits_used: 0,
    status: r.status as WorkflowRun["status"],
  }));
  const last = items[items.length - 1];
  return {
    items,
    nextPageToken:
      rows.length > PAGE_SIZE && last ? encodePageToken({ t: last.created_at, i: last.id }) : null,
  };
}

/** Names of the workflows of a project that ran in the filter's window. */
export async function workflowNames(q: Queryable, f: RunFilter): Promise<string[]> {
  const { rows } = await q.query(
    `WITH runs AS (${RUNS}) SELECT DISTINCT name FROM runs ORDER BY name`,
    runParams(f),
  );
  return rows.map((r) => String(r.name));
}

/**
 * Tests that both passed and failed on the same commit (a rerun, or another pipeline of that
 * revision), with the latest run that flaked. `time-wasted`: seconds spent in the failed runs.
 */
export async function flakyTests(q: Queryable, projectId: string): Promise<FlakyTest[]> {
  const { rows } = await q.query(
    `WITH results AS (
       SELECT t.classname, t.name, coalesce(t.file, '') AS file, t.source, t.result,
         t.run_time_seconds, w.name AS workflow_name, j.name AS job_name, j.number AS job_number,
         w.id AS workflow_id, w.created_at AS workflow_created_at, p.number AS pipeline_number,
         coalesce(p.vcs->>'revision', p.id::text) AS revision
       FROM task_tests t
         JOIN jobs j ON j.id::text = t.job_id
         JOIN workflows w ON w.id = j.workflow_id
         JOIN pipelines p ON p.id = w.pipeline_id
       WHERE j.project_id = $1),
     flaky AS (
       SELECT classname, name, workflow_name, job_name, revision
       FROM results GROUP BY classname, name, workflow_name, job_name, revision
       HAVING bool_or(result = 'success') AND bool_or(result IN ('failure', 'error')))
     SELECT DISTINCT ON (r.classname, r.name, r.workflow_name, r.job_name)
       r.classname, r.name, r.file, r.source, r.workflow_name, r.job_name, r.job_number,
       r.workflow_id, r.workflow_created_at, r.pipeline_number,
       count(*) FILTER (WHERE r.result IN ('failure', 'error'))
         OVER (PARTITION BY r.classname, r.name, r.workflow_name, r.job_name)::int AS times,
       sum(r.run_time_seconds) FILTER (WHERE r.result IN ('failure', 'error'))
         OVER (PARTITION BY r.classname, r.name, r.workflow_name, r.job_name) AS wasted
     FROM results r JOIN flaky f USING (classname, name, workflow_name, job_name, revision)
     ORDER BY r.classname, r.name, r.workflow_name, r.job_name,
       (r.result IN ('failure', 'error')) DESC, r.workflow_created_at DESC`,
    [projectId],
  );
  return rows.map((r) => ({
    "test-name": String(r.name),
    classname: String(r.classname),
    file: String(r.file),
    source: String(r.source),
    "times-flaked": Number(r.times),
    "time-wasted": int(r.wasted),
    "workflow-name": String(r.workflow_name),
    "job-name": String(r.job_name),
    "workflow-id": String(r.workflow_id),
    "workflow-created-at": new Date(r.workflow_created_at as string).toISOString(),
    "pipeline-number": Number(r.pipeline_number),
    "job-number": Number(r.job_number ?? 0),
  }));
}
