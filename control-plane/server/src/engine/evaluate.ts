/**
 * The workflow rules as pure functions over job states (CircleCI semantics): when a blocked job
 * may run, what a finished job's tasks add up to, and what a workflow's status is.
 */
import type { JobRequirement } from "@drover/config-compiler";
import {
  ACTIVE_TASK_STATUSES,
  FINAL_JOB_STATUSES,
  type JobStatus,
  type TaskStatus,
  type WorkflowStatus,
} from "../model/records.js";

export interface JobState {
  name: string;
  type: "build" | "approval";
  status: JobStatus;
  requires: JobRequirement[];
}

export type Transition = { name: string; to: "queued" | "on_hold" | "not_run" };

export const isFinal = (s: JobStatus): boolean => FINAL_JOB_STATUSES.has(s);

/** Whether a final job status satisfies one `requires` entry. `failed` covers every failure. */
export function satisfies(statuses: JobRequirement["statuses"], status: JobStatus): boolean {
  return statuses.some((want) =>
    want === "failed"
      ? status === "failed" || status === "timedout" || status === "infrastructure_fail"
      : want === status,
  );
}

/**
 * Moves blocked jobs whose requirements are decided: all met -> `queued` (build) or `on_hold`
 * (approval); any final requirement not met -> `not_run`, which may cascade. `carried` gives the
 * statuses of upstream jobs a partial rerun did not copy; a required job that is nowhere (filtered
 * out) counts as `not_run`.
 */
export function evaluate(jobs: JobState[], carried: Record<string, JobStatus> = {}): Transition[] {
  const status = new Map(jobs.map((j) => [j.name, j.status]));
  const out: Transition[] = [];
  let changed = true;
  while (changed) {
    changed = false;
    for (const job of jobs) {
      if (status.get(job.name) !== "blocked") continue;
      let pending = false;
      let broken = false;
      for (const req of job.requires) {
        const s = status.get(req.job) ?? carried[req.job] ?? "not_run";
        if (!isFinal(s)) pending = true;
        else if (!satisfies(req.statuses, s)) broken = true;
      }
      let to: Transition["to"] | null = null;
      if (broken) to = "not_run";
      else if (!pending) to = job.type === "approval" ? "on_hold" : "queued";
      if (to) {
        status.set(job.name, to);
        out.push({ name: job.name, to });
        changed = true;
      }
    }
  }
  return out;
}

/** A job's status once all its tasks are final; null while any task is active. */
export function jobStatusFromTasks(
  tasks: Array<{ status: TaskStatus }>,
  anyStepTimedOut = false,
): JobStatus | null {
  if (tasks.length === 0) return null;
  if (tasks.some((t) => ACTIVE_TASK_STATUSES.includes(t.status))) return null;
  if (tasks.some((t) => t.status === "failed")) return anyStepTimedOut ? "timedout" : "failed";
  if (tasks.some((t) => t.status === "infrastructure_fail")) return "infrastructure_fail";
  if (tasks.some((t) => t.status === "canceled")) return "canceled";
  return "success";
}

/** CircleCI's workflow status from its jobs. */
export function workflowStatus(
  jobs: Array<{ status: JobStatus }>,
  canceled: boolean,
): WorkflowStatus {
  const has = (...s: JobStatus[]) => jobs.some((j) => s.includes(j.status));
  if (canceled) return "canceled";
  if (jobs.every((j) => isFinal(j.status))) {
    if (jobs.length === 0 || jobs.every((j) => j.status === "not_run")) return "not_run";
    if (has("failed", "timedout", "unauthorized")) return "failed";
    if (has("infrastructure_fail")) return "error";
    if (has("canceled")) return "canceled";
    return "success";
  }
  if (has("failed", "timedout", "infrastructure_fail", "unauthorized")) return "failing";
  if (!has("queued", "running") && has("on_hold")) return "on_hold";
  return "running";
}

/** Names of jobs that (transitively) require any of `roots`. */
export function descendants(jobs: JobState[], roots: ReadonlySet<string>): Set<string> {
  const out = new Set<string>();
  let changed = true;
  while (changed) {
    changed = false;
    for (const j of jobs) {
      if (out.has(j.name) || roots.has(j.name)) continue;
      if (j.requires.some((r) => roots.has(r.job) || out.has(r.job))) {
        out.add(j.name);
        changed = true;
      }
    }
  }
  return out;
}
