/**
 * Task results: folding what happened to tasks into job and workflow states.
 *
 * Rules. Every result is recorded in one transaction that first locks the workflow row, so results
 * of parallel nodes serialize per workflow. Recording is idempotent: a task already final keeps
 * its first result, and a later one changes nothing (`finishTask` resolves false). A job becomes
 * final only when every task of its latest attempt is; then the workflow advances. After commit:
 * the backend releases the task, listeners hear of the change, and the workflow's newly queued
 * tasks are submitted. `markJobRunning` runs inside the claim's own transaction and only moves
 * `queued` -> `running` (the first node's claim), so it needs no engine instance.
 */
import type { Logger } from "pino";
import { recordAudit } from "../audit/log.js";
import { SYSTEM_ACTOR, type AuditEntity } from "../audit/events.js";
import type { Database, Queryable } from "../db/types.js";
import type { SchedulerBackend, TaskStatusEvent } from "../scheduler/types.js";
import type { AfterCommit } from "./changes.js";
import { advanceWorkflow } from "./advance.js";
import { jobStatusFromTasks } from "./evaluate.js";
import * as jobs from "./store/jobs.js";
import * as tasks from "./store/tasks.js";
import { lockWorkflow } from "./store/workflows.js";

export type TaskResult = "success" | "failed" | "infrastructure_fail" | "canceled";

/** Records a job event in the audit log, in the transaction of the change it describes. */
export async function auditJob(
  tx: Queryable,
  action: "workflow.job.start" | "workflow.job.finish" | "workflow.job.approve",
  job: jobs.JobAuditRow,
  actor: AuditEntity,
  requestId?: string | null,
): Promise<void> {
  await recordAudit(tx, {
    action,
    actor,
    requestId: requestId ?? null,
    target: { id: job.id, type: "job", name: job.name },
    payload: {
      job_number: job.number,
      status: job.status,
      workflow_id: job.workflow_id,
      project_id: job.project_id,
    },
  });
}

/** An agent claimed a task of the job: it is running (`requestId`: the claim's, for the audit). */
export async function markJobRunning(
  tx: Queryable,
  jobId: string,
  requestId?: string | null,
): Promise<void> {
  const started = await jobs.startJob(tx, jobId);
  if (started) await auditJob(tx, "workflow.job.start", started, SYSTEM_ACTOR, requestId);
}

export interface TaskResultsOptions {
  db: Database;
  scheduler: SchedulerBackend;
  log: Logger;
  after: AfterCommit;
}

export class TaskResults {
  constructor(private readonly opts: TaskResultsOptions) {}

  /** Records a task's final result; resolves false when the task is unknown or already final. */
  async finishTask(taskId: string, result: TaskResult, message?: string): Promise<boolean> {
    const { db, log } = this.opts;
    const workflowId = await tasks.workflowOfTask(db, taskId);
    if (!workflowId) return false;
    const changed = await db.transaction(async (tx) => {
      await lockWorkflow(tx, workflowId);
      const jobId = await tasks.finishTask(tx, taskId, result, message ?? null);
      if (!jobId) return false;
      await this.foldJob(tx, jobId);
      await advanceWorkflow(tx, workflowId, { log });
      return true;
    });
    if (changed) {
      log.info({ taskId, result }, "task finished");
      await this.opts.scheduler
        .cleanup(taskId)
        .catch((err: unknown) => log.warn({ err, taskId }, "scheduler cleanup failed"));
      this.opts.after.changed(workflowId);
      await this.opts.after.submit([workflowId]);
    }
    return changed;
  }

  /** A backend status: a task lost, or whose agent exited while still active, failed. */
  async onSchedulerEvent(e: TaskStatusEvent): Promise<void> {
    if (e.status.state === "lost") {
      await this.finishTask(e.taskId, "infrastructure_fail", `task lost: ${e.status.reason}`);
    } else if (e.status.state === "finished") {
      // The agent reports its result before exiting; a task still active here never did.
      await this.finishTask(
        e.taskId,
        "infrastructure_fail",
        `agent exited (code ${e.status.exitCode ?? "none"}) without reporting a result`,
      );
    }
  }

  /** Ends a queued job `unauthorized` without running it (its tasks never reach the backend). */
  async refuseJob(jobId: string, reason: string): Promise<void> {
    const { db, log } = this.opts;
    const workflowId = await jobs.workflowOfJob(db, jobId);
    if (!workflowId) return;
    await db.transaction(async (tx) => {
      await lockWorkflow(tx, workflowId);
      await tasks.refuseTasksOfJob(tx, jobId, `unauthorized: ${reason}`);
      await jobs.refuseJob(tx, jobId);
      await advanceWorkflow(tx, workflowId, { log });
    });
    log.info({ jobId, reason }, "job refused: context access");
    this.opts.after.changed(workflowId);
    await this.opts.after.submit([workflowId]);
  }

  /** Sets a queued/running job's final status from its latest attempt once every task is final. */
  private async foldJob(tx: Queryable, jobId: string): Promise<void> {
    const latest = await tasks.latestAttempt(tx, jobId);
    const status = jobStatusFromTasks(latest.tasks, latest.anyStepTimedOut);
    if (!status) return;
    const done = await jobs.finishJob(tx, jobId, status);
    if (done) await auditJob(tx, "workflow.job.finish", done, SYSTEM_ACTOR);
  }
}
