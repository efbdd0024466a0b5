/**
 * User commands on workflows: approve a held job, cancel a workflow or one job, rerun a finished
 * workflow.
 *
 * Rules. Each command is one transaction that first locks the workflow row (so it serializes with
 * results and other commands on that workflow), records its audit event in that transaction, and
 * advances the workflow before commit. After commit it tells listeners, stops the tasks it
 * canceled (backend cancel, then cleanup; both idempotent, failures logged) and submits what it
 * queued. Approving a job that is not `on_hold` is `DROVER_ERR_INVALID_STATE`; canceling what is
 * already final is a no-op; a rerun needs a stopped workflow and makes a new one.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { recordAudit } from "../audit/log.js";
import { SYSTEM_ACTOR, type AuditContext } from "../audit/events.js";
import type { Database } from "../db/types.js";
import { ControlPlaneError, notFound } from "../model/errors.js";
import { getUser, listSshKeys } from "../model/users.js";
import { getJob, listJobs } from "../model/workflows.js";
import type { SchedulerBackend } from "../scheduler/types.js";
import { advanceWorkflow } from "./advance.js";
import type { AfterCommit } from "./changes.js";
import { auditJob } from "./results.js";
import { checkRerunOptions, planRerun, type RerunOptions } from "./rerun.js";
import * as jobs from "./store/jobs.js";
import * as tasks from "./store/tasks.js";
import { insertWorkflow, lockWorkflow, markWorkflowCanceled } from "./store/workflows.js";

export interface WorkflowCommandsOptions {
  db: Database;
  scheduler: SchedulerBackend;
  log: Logger;
  after: AfterCommit;
}

export class WorkflowCommands {
  constructor(private readonly opts: WorkflowCommandsOptions) {}

  /** Approves an `on_hold` approval job (`approvalRequestId` is the job id). */
  async approve(
    workflowId: string,
    approvalRequestId: string,
    userId: string,
    audit?: AuditContext,
  ): Promise<void> {
    const { db, log } = this.opts;
    await db.transaction(async (tx) => {
      await lockWorkflow(tx, workflowId);
      const job = await jobs.findApprovalJob(tx, workflowId, approvalRequestId);
      if (!job) throw notFound("approval request");
      if (job.status !== "on_hold") {
        throw new ControlPlaneError(
          "DROVER_ERR_INVALID_STATE",
          `approval job ${job.name} is ${job.status}, not on_hold`,
        );
      }
      const approved = await jobs.approveJob(tx, job.id, userId);
      const user = await getUser(tx, userId);
      if (approved) {
        await auditJob(
          tx,
          "workflow.job.approve",
          approved,
          audit?.actor ?? { id: userId, type: "user", name: user?.login ?? userId },
          audit?.requestId,
        );
      }
      await advanceWorkflow(tx, workflowId, { requestId: audit?.requestId, log });
    });
    this.opts.after.changed(workflowId);
    await this.opts.after.submit([workflowId]);
  }

  /** Cancels every unfinished job of the workflow and stops its tasks. No-op once stopped. */
  async cancelWorkflow(
    workflowId: string,
    userId: string | null,
    audit?: AuditContext,
  ): Promise<void> {
    const { db, log } = this.opts;
    const stop = await db.transaction(async (tx) => {
      const wf = await lockWorkflow(tx, workflowId);
      if (wf.stoppedAt) return [];
      await markWorkflowCanceled(tx, workflowId, userId);
      await jobs.cancelJobsOfWorkflow(tx, workflowId, userId);
      const canceled = await tasks.cancelTasksOfWorkflow(tx, workflowId);
      await advanceWorkflow(tx, workflowId, { log });
      await recordAudit(tx, {
        action: "workflow.cancel",
        actor: audit?.actor ?? SYSTEM_ACTOR,
        target: { id: workflowId, type: "workflow", name: wf.name },
        payload: { pipeline_id: wf.pipelineId, project_id: wf.projectId },
        requestId: audit?.requestId ?? null,
      });
      return canceled;
    });
    this.opts.after.changed(workflowId);
    await this.stopTasks(stop);
  }

  /** Cancels one unfinished job; its dependants follow the usual rules. */
  async cancelJob(jobId: string, userId: string | null, audit?: AuditContext): Promise<void> {
    const { db, log } = this.opts;
    const job = await getJob(db, jobId);
    if (!job) throw notFound("job");
    const workflowId = job.workflowId;
    const stop = await db.transaction(async (tx) => {
      await lockWorkflow(tx, workflowId);
      if (!(await jobs.cancelJob(tx, jobId, userId))) return [];
      const canceled = await tasks.cancelTasksOfJob(tx, jobId);
      await advanceWorkflow(tx, workflowId, { log });
      await recordAudit(tx, {
        action: "job.cancel",
        actor: audit?.actor ?? SYSTEM_ACTOR,
        target: { id: jobId, type: "job", name: job.name },
        payload: { workflow_id: workflowId, job_number: job.number ?? null },
        requestId: audit?.requestId ?? null,
      });
      return canceled;
    });
    this.opts.after.changed(workflowId);
    await this.stopTasks(stop);
    await this.opts.after.submit([workflowId]);
  }

  /**
   * Reruns a stopped workflow as a new workflow of the same pipeline (see `planRerun` for which
   * jobs it copies); resolves to the new workflow's id.
   */
  async rerun(
    workflowId: string,
    opts: RerunOptions,
    userId: string | null,
    audit?: AuditContext,
  ): Promise<string> {
    checkRerunOptions(opts);
    const { db, log } = this.opts;
    const id = randomUUID();
    await db.transaction(async (tx) => {
      const wf = await lockWorkflow(tx, workflowId);
      if (!wf.stoppedAt) {
        throw new ControlPlaneError(
          "DROVER_ERR_INVALID_STATE",
          "the workflow has not finished yet",
        );
      }
      const before = await listJobs(tx, workflowId);
      const plan = planRerun(before, wf.carried, opts);
      await insertWorkflow(tx, {
        id,
        pipelineId: wf.pipelineId,
        projectId: wf.projectId,
        name: wf.name,
        startedBy: userId,
        rerunOf: workflowId,
        carried: plan.carried,
      });
      const inserted = await jobs.insertJobs(
        tx,
        id,
        wf.projectId,
        before
          .filter((j) => plan.copy.has(j.name))
          .map((j) => ({
            plan: j.plan,
            position: j.position,
            enableSsh: Boolean(opts.enableSsh) && plan.chosen.has(j.name),
            rerunOf: j.id,
          })),
      );
      if (opts.enableSsh && userId) {
        // The keys as they are now: who may log in is decided when the rerun is made.
        const keys = (await listSshKeys(tx, userId)).map((k) => k.publicKey);
        await tx.query(
          `INSERT INTO workflow_ssh_keys (workflow_id, user_id, public_keys) VALUES ($1, $2, $3::jsonb)`,
          [id, userId, JSON.stringify(keys)],
        );
      }
      await advanceWorkflow(tx, id, { requestId: audit?.requestId, log });
      await recordAudit(tx, {
        action: "workflow.rerun",
        actor: audit?.actor ?? SYSTEM_ACTOR,
        target: { id, type: "workflow", name: wf.name },
        payload: {
          rerun_of: workflowId,
          pipeline_id: wf.pipelineId,
          jobs: inserted.map((j) => j.name),
          from_failed: Boolean(opts.fromFailed),
          enable_ssh: Boolean(opts.enableSsh),
          sparse_tree: Boolean(opts.sparseTree),
        },
        requestId: audit?.requestId ?? null,
      });
      const builds = inserted.filter((j) => j.type === "build").map((j) => j.id);
      await jobs.numberJobs(tx, wf.projectId, builds);
    });
    this.opts.after.changed(id);
    await this.opts.after.submit([id]);
    return id;
  }

  private async stopTasks(ids: string[]): Promise<void> {
    const { scheduler, log } = this.opts;
    for (const id of ids) {
      await scheduler
        .cancel(id)
        .catch((err: unknown) => log.warn({ err, taskId: id }, "scheduler cancel failed"));
      await scheduler.cleanup(id).catch(() => undefined);
    }
  }
}
