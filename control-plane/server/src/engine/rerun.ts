/**
 * Which jobs a rerun copies, as pure functions (CircleCI semantics): every job; the failed ones and
 * their dependants (`fromFailed`); or chosen jobs and their dependants (`jobs`; only those jobs
 * with `sparseTree`). Jobs not copied lend their statuses (`carried`) to the requirements of the
 * copied ones. `enableSsh` needs `jobs` and applies to the chosen jobs only.
 */
import { ControlPlaneError, invalid } from "../model/errors.js";
import type { JobStatus } from "../model/records.js";
import { descendants, type JobState } from "./evaluate.js";

export interface RerunOptions {
  enableSsh?: boolean;
  fromFailed?: boolean;
  /** Job ids of the workflow to rerun. */
  jobs?: string[];
  sparseTree?: boolean;
}

/** Refuses option combinations that mean nothing (`DROVER_ERR_VALIDATION`, naming the field). */
export function checkRerunOptions(opts: RerunOptions): void {
  if (opts.enableSsh && !opts.jobs?.length) {
    throw invalid("enable_ssh needs jobs", [
      { field: "jobs", message: "required with enable_ssh" },
    ]);
  }
  if (opts.fromFailed && opts.jobs?.length) {
    throw invalid("from_failed and jobs are exclusive", [
      { field: "from_failed", message: "cannot be combined with jobs" },
    ]);
  }
  if (opts.fromFailed && opts.enableSsh) {
    throw invalid("from_failed and enable_ssh are exclusive", [
      { field: "enable_ssh", message: "cannot be combined with from_failed" },
    ]);
  }
  if (opts.sparseTree && !opts.jobs?.length) {
    throw invalid("sparse_tree needs jobs", [
      { field: "jobs", message: "required with sparse_tree" },
    ]);
  }
}

export interface RerunPlan {
  /** Names of the jobs the new workflow copies. */
  copy: Set<string>;
  /** Names of the jobs chosen by id (they get `enableSsh`). */
  chosen: Set<string>;
  /** Statuses of the jobs not copied, added to what the original workflow carried. */
  carried: Record<string, JobStatus>;
}

/** Decides a rerun of a finished workflow's jobs; throws for unknown ids or nothing failed. */
export function planRerun(
  jobs: ReadonlyArray<JobState & { id: string }>,
  carriedBefore: Record<string, JobStatus>,
  opts: RerunOptions,
): RerunPlan {
  const chosen = new Set<string>();
  let copy: Set<string>;
  if (opts.jobs?.length) {
    const byId = new Map(jobs.map((j) => [j.id, j]));
    opts.jobs.forEach((id, i) => {
      const j = byId.get(id);
      if (!j) {
        throw invalid(`job ${id} is not in this workflow`, [
          { field: `jobs.${i}`, message: "unknown job id" },
        ]);
      }
      chosen.add(j.name);
    });
    copy = opts.sparseTree
      ? new Set(chosen)
      : new Set([...chosen, ...descendants([...jobs], chosen)]);
  } else if (opts.fromFailed) {
    const failed = new Set(jobs.filter((j) => j.status !== "success").map((j) => j.name));
    if (failed.size === 0) {
      throw new ControlPlaneError("DROVER_ERR_INVALID_STATE", "the workflow has no failed jobs");
    }
    copy = new Set([...failed, ...descendants([...jobs], failed)]);
  } else {
    copy = new Set(jobs.map((j) => j.name));
  }
  const carried: Record<string, JobStatus> = { ...carriedBefore };
  for (const j of jobs) if (!copy.has(j.name)) carried[j.name] = j.status;
  return { copy, chosen, carried };
}
