import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { PipelinePlan } from "@drover/config-compiler";
import { recordAudit, recordAuditBatch } from "../audit/log.js";
import {
  SYSTEM_ACTOR,
  type AuditContext,
  type AuditEntity,
  type AuditEventInput,
} from "../audit/events.js";
import type { ServiceUrls } from "../config/urls.js";
import type { TaskSecretsProvider } from "./task-service.js";
import type { Database, Queryable } from "../db/types.js";
import { generateToken, hashToken, TASK_TOKEN_PREFIX } from "../auth/tokens.js";
import { ControlPlaneError, invalid, notFound } from "../model/errors.js";
import {
  ACTIVE_TASK_STATUSES,
  type Job,
  type JobStatus,
  type TaskStatus,
  type Workflow,
} from "../model/records.js";
import { toJob, toWorkflow } from "../model/rows.js";
import { getJob, listJobs } from "../model/workflows.js";
import {
  SchedulerUnavailableError,
  type SchedulerBackend,
  type TaskPlan,
  type TaskStatusEvent,
} from "../scheduler/types.js";
import {
  descendants,
  evaluate,
  isFinal,
  jobStatusFromTasks,
  workflowStatus,
  type Transition,
} from "./evaluate.js";

/** What the workflow rules need of a job. */
type FreshJob = Pick<
  Job,
  "id" | "name" | "type" | "status" | "requires" | "parallelism" | "enableSsh"
>;

interface JobAuditRow {
  id: string;
  name: string;
  number: number | null;
  status: string;
  workflow_id: string;
  project_id: string;
}
const JOB_AUDIT_COLUMNS = "id, name, number, status, workflow_id, project_id";

/** Records a job event in the audit log, in the transaction of the change it describes. */
async function auditJob(
  tx: Queryable,
  action: "workflow.job.start" | "workflow.job.finish" | "workflow.job.approve",
  job: JobAuditRow,
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

export interface EngineOptions {
  db: Database;
  scheduler: SchedulerBackend;
  logger: Logger;
  urls: ServiceUrls;
  /**
   * Set when the backend is machine-local (`local`): tasks record the instance that submitted
   * them and `start()` reconciles only those. Unset (Nomad): every active task is reconciled.
   */
  instanceId?: string;
  /** Context access checks before scheduling (the secrets engine's provider). */
  access?: Pick<TaskSecretsProvider, "checkAccess">;
  /** Unclaimed task tokens expire after this long (default 10 minutes). */
  taskTokenTtlMs?: number;
  /** How long one instance holds a task it is submitting (default 15 s). */
  submitLeaseMs?: number;
  /** Period of the housekeeping tick (default 2 s); 0 disables the timer (tests call tick()). */
  tickIntervalMs?: number;
}

export interface RerunOptions {
  enableSsh?: boolean;
  fromFailed?: boolean;
  /** Job ids of the workflow to rerun. */
  jobs?: string[];
  sparseTree?: boolean;
}

/** Tasks taken per submission pass. */
const SUBMIT_BATCH = 500;

/**
 * The workflow engine: stores workflows and jobs from a plan, queues jobs as their requirements
 * are met, hands tasks to the scheduler backend, and folds task results back into job and
 * workflow states.
 *
 * Every transition happens in a transaction that first locks the workflow row (`FOR UPDATE`), so
 * concurrent instances on one PostgreSQL serialize per workflow and never queue a job twice.
 * Submitting a task to the backend happens after commit under a short per-task lease; a task
 * whose instance died before submitting stays `pending` and the next tick of any instance submits
 * it with a fresh token. State lives only in the database: `start()` after a crash reconciles the
 * backend's tasks with the active ones and carries on.
 */
export class WorkflowEngine {
  private readonly log: Logger;
  private readonly ttlMs: number;
  private readonly leaseMs: number;
  private timer: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;
  private ticking: Promise<void> | undefined;
  private readonly inflight = new Set<Promise<unknown>>();
  private draining = false;
  private readonly changeListeners = new Set<(e: { workflowId: string }) => void>();
  private drainAgain = false;

  constructor(private readonly opts: EngineOptions) {
    this.log = opts.logger.child({ unit: "engine" });
    this.ttlMs = opts.taskTokenTtlMs ?? 10 * 60_000;
    this.leaseMs = opts.submitLeaseMs ?? 15_000;
  }

  get db(): Database {
    return this.opts.db;
  }

  /** Subscribes to the backend, reconciles active tasks, submits pending ones, starts the tick. */
  async start(): Promise<void> {
    this.unwatch = this.opts.scheduler.watch((e) => this.track(this.onSchedulerEvent(e)));
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT id FROM tasks WHERE status IN ('submitted', 'running')
          AND ($1::text IS NULL OR scheduler_instance = $1)`,
      [this.opts.instanceId ?? null],
    );
    await this.opts.scheduler.reconcile(new Set(rows.map((r) => r.id)));
    await this.tick();
    const every = this.opts.tickIntervalMs ?? 2_000;
    if (every > 0) {
      this.timer = setInterval(() => {
        if (!this.ticking) {
          this.ticking = this.tick()
            .catch((err: unknown) => this.log.error({ err }, "engine tick failed"))
            .finally(() => (this.ticking = undefined));
        }
      }, every);
      this.timer.unref();
    }
  }

  /** Stops the tick and the subscription and waits for in-flight work; tasks keep running. */
  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.unwatch?.();
    await this.ticking;
    await this.idle();
  }

  /** Resolves when background work started so far (submissions, event handling) is done. */
  async idle(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
  }

  /**
   * Subscribes to committed changes of workflows (created, job queued/started/finished, approved,
   * canceled, rerun), e.g. to push live status to browsers. Delivered after commit, in this
   * process only; listeners re-read what they show. Returns an unsubscribe function.
   */
  onWorkflowChange(listener: (e: { workflowId: string }) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Tells listeners a workflow changed (after commit). */
  changed(workflowId: string): void {
    for (const l of this.changeListeners) {
      try {
        l({ workflowId });
      } catch (err) {
        this.log.warn({ err, workflowId }, "workflow change listener threw");
      }
    }
  }

  /** Housekeeping: submit pending tasks, fail tokens that expired unclaimed. */
  async tick(): Promise<void> {
    await this.submitPending();
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT id FROM tasks WHERE status = 'submitted' AND claimed_at IS NULL
          AND token_expires_at < now()`,
    );
    for (const { id } of rows) {
      await this.finishTask(id, "infrastructure_fail", "task token expired unclaimed");
      await this.opts.scheduler.cancel(id).catch(() => undefined);
    }
  }

  private track<T>(p: Promise<T>): void {
    const guarded = p.catch((err: unknown) =>
      this.log.error({ err }, "engine background work failed"),
    );
    this.inflight.add(guarded);
    void guarded.finally(() => this.inflight.delete(guarded));
  }

  /**
   * Stores the plan's workflows and jobs for a pipeline inside the caller's transaction and
   * queues the jobs that can start. Call `kick()` with the returned ids after commit.
   */
  async createWorkflows(
    tx: Queryable,
    input: {
      pipelineId: string;
      projectId: string;
      plan: PipelinePlan;
      startedBy: string | null;
      /** The HTTP request that triggered the pipeline, for the audit of queued jobs. */
      requestId?: string | null;
    },
  ): Promise<string[]> {
    const ids: string[] = [];
    const builds: string[] = [];
    for (const wf of input.plan.workflows) {
      const id = randomUUID();
      await tx.query(
        `INSERT INTO workflows (id, pipeline_id, project_id, name, status, started_by)
         VALUES ($1, $2, $3, $4, 'running', $5)`,
        [id, input.pipelineId, input.projectId, wf.name, input.startedBy],
      );
      const jobs = await this.insertJobs(
        tx,
        id,
        input.projectId,
        wf.jobs.map((plan, position) => ({ plan, position, enableSsh: false, rerunOf: null })),
      );
      builds.push(...jobs.filter((j) => j.type === "build").map((j) => j.id));
      // Fresh rows: no need to read back what was just written.
      await this.advanceLocked(
        tx,
        id,
        {
          wf: { status: "running", carried: {}, canceledAt: null, stoppedAt: null },
          jobs,
        },
        input.requestId,
      );
      ids.push(id);
    }
    await this.numberJobs(tx, input.projectId, builds);
    return ids;
  }

  /**
   * After a commit that queued work: submit pending tasks in the background. Kicks that arrive
   * while a submission pass runs coalesce into one more pass, so bursts of triggers are
   * submitted in batches.
   */
  kick(workflowIds: string[]): void {
    for (const id of workflowIds) this.changed(id);
    if (workflowIds.length === 0) return;
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    this.track(
      (async () => {
        try {
          let full = false;
          do {
            this.drainAgain = false;
            // A full batch may have left more behind; one taken by others ends the loop.
            full = (await this.submitPending()) >= SUBMIT_BATCH;
          } while (this.drainAgain || full);
        } finally {
          this.draining = false;
        }
      })(),
    );
  }

  private async insertJobs(
    tx: Queryable,
    workflowId: string,
    projectId: string,
    jobs: Array<{
      plan: Job["plan"];
      position: number;
      enableSsh: boolean;
      rerunOf: string | null;
    }>,
  ): Promise<FreshJob[]> {
    if (jobs.length === 0) return [];
    const values: string[] = [];
    const params: unknown[] = [];
    const inserted: FreshJob[] = [];
    for (const j of jobs) {
      const id = randomUUID();
      inserted.push({
        id,
        name: j.plan.name,
        type: j.plan.type,
        status: "blocked",
        requires: j.plan.requires,
        parallelism: Math.max(1, j.plan.parallelism),
        enableSsh: j.enableSsh,
      });
      const b = params.length;
      values.push(
        `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}, $${b + 6}, $${b + 7}, 'blocked', $${b + 8}::jsonb, $${b + 9}::jsonb, $${b + 10}, $${b + 11}, $${b + 12})`,
      );
      params.push(
        id,
        workflowId,
        projectId,
        j.position,
        j.plan.name,
        j.plan.type,
        null,
        JSON.stringify(j.plan.requires),
        JSON.stringify(j.plan),
        Math.max(1, j.plan.parallelism),
        j.enableSsh,
        j.rerunOf,
      );
    }
    await tx.query(
      `INSERT INTO jobs (id, workflow_id, project_id, position, name, type, number, status, requires,
                         plan, parallelism, enable_ssh, rerun_of)
       VALUES ${values.join(", ")}`,
      params,
    );
    return inserted;
  }

  /**
   * Gives build jobs their project-wide numbers, in order. Done last in the transaction so the
   * project row (the counter) stays locked only until commit.
   */
  private async numberJobs(tx: Queryable, projectId: string, jobIds: string[]): Promise<void> {
    if (jobIds.length === 0) return;
    await tx.query(
      `WITH n AS (
         UPDATE projects SET next_job_number = next_job_number + $2 WHERE id = $1
         RETURNING next_job_number - $2 AS first)
       UPDATE jobs SET number = n.first + array_position($3::uuid[], jobs.id) - 1
         FROM n WHERE jobs.id = ANY($3::uuid[])`,
      [projectId, jobIds.length, jobIds],
    );
  }

  private async lockWorkflow(tx: Queryable, workflowId: string): Promise<Workflow> {
    const { rows } = await tx.query("SELECT * FROM workflows WHERE id = $1 FOR UPDATE", [
      workflowId,
    ]);
    if (!rows[0]) throw notFound("workflow");
    return toWorkflow(rows[0]);
  }

  /**
   * Applies the workflow rules to a workflow this transaction has locked (or created): queues
   * jobs whose requirements are met (creating one pending task per parallel node), holds
   * approvals, marks unreachable jobs `not_run`, and stores the workflow status.
   */
  private async advanceLocked(
    tx: Queryable,
    workflowId: string,
    known?: {
      wf: Pick<Workflow, "status" | "carried" | "canceledAt" | "stoppedAt">;
      jobs: FreshJob[];
    },
    requestId?: string | null,
  ): Promise<void> {
    const wf =
      known?.wf ??
      toWorkflow(
        (await tx.query("SELECT * FROM workflows WHERE id = $1", [workflowId])).rows[0] ?? {},
      );
    const jobs: FreshJob[] = known?.jobs ?? (await listJobs(tx, workflowId));
    const transitions = wf.canceledAt ? [] : evaluate(jobs, wf.carried);
    const byName = new Map(jobs.map((j) => [j.name, j]));
    const taskValues: string[] = [];
    const taskParams: unknown[] = [];
    const moved: Record<Transition["to"], string[]> = { queued: [], on_hold: [], not_run: [] };
    const scheduled: AuditEventInput[] = [];
    for (const t of transitions) {
      const job = byName.get(t.name);
      if (!job) continue;
      job.status = t.to;
      moved[t.to].push(job.id);
      if (t.to === "queued") {
        scheduled.push({
          action: "workflow.job.scheduled",
          actor: SYSTEM_ACTOR,
          target: { id: job.id, type: "job", name: job.name },
          payload: { workflow_id: workflowId, parallelism: job.parallelism },
          requestId: requestId ?? null,
        });
        for (let node = 0; node < job.parallelism; node++) {
          const b = taskParams.length;
          taskValues.push(
            `($${b + 1}, $${b + 2}, $${b + 3}, 1, $${b + 4}, $${b + 5}, 'pending', $${b + 6})`,
          );
          taskParams.push(randomUUID(), job.id, workflowId, node, job.parallelism, job.enableSsh);
        }
      }
    }
    for (const [to, ids] of Object.entries(moved)) {
      if (ids.length === 0) continue;
      await tx.query(
        `UPDATE jobs SET status = $2,
            queued_at = CASE WHEN $2 = 'queued' THEN now() ELSE queued_at END,
            stopped_at = CASE WHEN $2 = 'not_run' THEN now() ELSE stopped_at END
          WHERE id = ANY($1::uuid[])`,
        [ids, to],
      );
    }
    // workflow.job.scheduled: one INSERT for every job queued by this pass.
    await recordAuditBatch(tx, scheduled);
    if (taskValues.length > 0) {
      await tx.query(
        `INSERT INTO tasks (id, job_id, workflow_id, attempt, node_index, node_total, status, enable_ssh)
         VALUES ${taskValues.join(", ")}`,
        taskParams,
      );
    }
    const status = workflowStatus(jobs, wf.canceledAt !== null);
    const final = jobs.every((j) => isFinal(j.status));
    if (status !== wf.status || (final && !wf.stoppedAt)) {
      await tx.query(
        `UPDATE workflows SET status = $2,
            stopped_at = CASE WHEN $3 THEN COALESCE(stopped_at, now()) ELSE NULL END
          WHERE id = $1`,
        [workflowId, status, final],
      );
      this.log.debug({ workflowId, status }, "workflow status");
    }
  }

  /** Re-applies the rules to a workflow (idempotent). */
  async advance(workflowId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.lockWorkflow(tx, workflowId);
      await this.advanceLocked(tx, workflowId);
    });
    this.changed(workflowId);
    await this.submitPending([workflowId]);
  }

  /**
   * Hands pending tasks to the backend (all, or those of some workflows). A task is taken under
   * a lease with a conditional UPDATE, so two instances never submit the same task; its token is
   * minted at that moment and only its hash is stored. Resolves to the number of tasks taken.
   */
  async submitPending(workflowIds?: string[]): Promise<number> {
    const { rows } = await this.db.query<{ id: string }>(
      `SELECT id FROM tasks WHERE status = 'pending'
          AND (submit_lease_until IS NULL OR submit_lease_until < now())
          AND ($1::uuid[] IS NULL OR workflow_id = ANY($1::uuid[]))
        ORDER BY created_at LIMIT $2`,
      [workflowIds ?? null, SUBMIT_BATCH],
    );
    if (rows.length === 0) return 0;
    const tokens = new Map(rows.map((r) => [r.id, generateToken(TASK_TOKEN_PREFIX)]));
    // One conditional UPDATE takes the lease on every task still free: a task another instance
    // leased meanwhile fails the WHERE and is not returned.
    const leased = await this.db.query<Record<string, unknown>>(
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
        [...tokens.keys()],
        [...tokens.values()].map(hashToken),
        this.ttlMs,
        this.leaseMs,
        this.opts.instanceId ?? null,
      ],
    );
    const submitted: string[] = [];
    const refused = new Map<string, string>();
    const checkAccess = this.opts.access?.checkAccess?.bind(this.opts.access);
    for (const r of leased.rows) {
      const taskId = String(r.id);
      const jobId = String(r.job_id);
      const contexts = (
        typeof r.contexts === "string" ? JSON.parse(r.contexts) : (r.contexts ?? [])
      ) as string[];
      if (refused.has(jobId)) continue;
      if (checkAccess && contexts.length > 0) {
        const access = await checkAccess({
          projectId: String(r.project_id),
          orgId: String(r.org_id),
          contexts,
          userId: (r.user_id as string | null) ?? null,
        });
        if (!access.allowed) {
          refused.set(jobId, `context '${access.context}': ${access.reason}`);
          continue;
        }
      }
      const task: TaskPlan = {
        taskId,
        taskToken: tokens.get(taskId) ?? "",
        controlPlaneUrl: this.opts.urls.controlPlane,
        outputUrl: this.opts.urls.output,
        project: { slug: String(r.project_slug), name: String(r.project_name) },
        pipeline: { id: String(r.pipeline_id), number: Number(r.pipeline_number) },
        workflow: { id: String(r.workflow_id), name: String(r.workflow_name) },
        job: {
          id: jobId,
          name: String(r.job_name),
          number: Number(r.job_number ?? 0),
          attempt: Number(r.attempt),
        },
        node: { index: Number(r.node_index), total: Number(r.node_total) },
        resourceClass: String(r.resource_class ?? "medium"),
        executorType: r.executor_type === "machine" ? "machine" : "docker",
        sshEnabled: Boolean(r.enable_ssh),
        jobUrl: `${this.opts.urls.public}/jobs/${jobId}`,
      };
      const log = this.log.child({ taskId, jobId });
      try {
        await this.opts.scheduler.submit(task);
        submitted.push(taskId);
        log.debug("task submitted");
      } catch (err) {
        if (err instanceof SchedulerUnavailableError) {
          log.warn({ err }, "scheduler unavailable; the task stays pending");
          continue; // the lease expires and a later tick retries with a fresh token
        }
        log.error({ err }, "scheduler refused the task");
        await this.finishTask(
          taskId,
          "infrastructure_fail",
          `scheduler refused the task: ${String(err)}`,
        );
      }
    }
    if (submitted.length > 0) {
      await this.db.query(
        `UPDATE tasks SET status = 'submitted', submitted_at = now(), submit_lease_until = NULL
          WHERE id = ANY($1::uuid[]) AND status = 'pending'`,
        [submitted],
      );
    }
    for (const [jobId, reason] of refused) await this.refuseJob(jobId, reason);
    return leased.rows.length;
  }

  /**
   * Records a task's final result (idempotent: a task already final is left alone), folds it into
   * the job once every node is final, advances the workflow, and releases the backend's task.
   */
  async finishTask(
    taskId: string,
    result: "success" | "failed" | "infrastructure_fail" | "canceled",
    message?: string,
  ): Promise<boolean> {
    const workflowId = (
      await this.db.query<{ workflow_id: string }>("SELECT workflow_id FROM tasks WHERE id = $1", [
        taskId,
      ])
    ).rows[0]?.workflow_id;
    if (!workflowId) return false;
    const changed = await this.db.transaction(async (tx) => {
      await this.lockWorkflow(tx, workflowId);
      const upd = await tx.query<{ job_id: string }>(
        `UPDATE tasks SET status = $2, message = COALESCE($3, message), finished_at = now()
          WHERE id = $1 AND status = ANY($4::text[]) RETURNING job_id`,
        [taskId, result, message ?? null, ACTIVE_TASK_STATUSES],
      );
      const jobId = upd.rows[0]?.job_id;
      if (!jobId) return false;
      await this.foldJob(tx, jobId);
      await this.advanceLocked(tx, workflowId);
      return true;
    });
    if (changed) {
      this.log.info({ taskId, result }, "task finished");
      await this.opts.scheduler
        .cleanup(taskId)
        .catch((err: unknown) => this.log.warn({ err, taskId }, "scheduler cleanup failed"));
      this.changed(workflowId);
      await this.submitPending([workflowId]);
    }
    return changed;
  }

  /** Sets a queued/running job's final status from its tasks once all are final. */
  private async foldJob(tx: Queryable, jobId: string): Promise<void> {
    const tasks = await tx.query<{ status: TaskStatus }>(
      "SELECT status FROM tasks WHERE job_id = $1 AND attempt = (SELECT max(attempt) FROM tasks WHERE job_id = $1)",
      [jobId],
    );
    const timedOut = await tx.query(
      "SELECT 1 FROM task_steps s JOIN tasks t ON t.id = s.task_id WHERE t.job_id = $1 AND s.status = 'timedout' LIMIT 1",
      [jobId],
    );
    const status = jobStatusFromTasks(tasks.rows, timedOut.rows.length > 0);
    if (!status) return;
    const done = await tx.query<JobAuditRow>(
      `UPDATE jobs SET status = $2, stopped_at = now()
        WHERE id = $1 AND status IN ('queued', 'running')
        RETURNING ${JOB_AUDIT_COLUMNS}`,
      [jobId, status],
    );
    if (done.rows[0]) await auditJob(tx, "workflow.job.finish", done.rows[0], SYSTEM_ACTOR);
  }

  /** The agent claimed a task: the job is running (`requestId`: the claim's request, for the audit). */
  async markJobRunning(tx: Queryable, jobId: string, requestId?: string): Promise<void> {
    const started = await tx.query<JobAuditRow>(
      `UPDATE jobs SET status = 'running', started_at = COALESCE(started_at, now())
        WHERE id = $1 AND status = 'queued'
        RETURNING ${JOB_AUDIT_COLUMNS}`,
      [jobId],
    );
    if (started.rows[0]) {
      await auditJob(tx, "workflow.job.start", started.rows[0], SYSTEM_ACTOR, requestId);
    }
  }

  private async onSchedulerEvent(e: TaskStatusEvent): Promise<void> {
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

  /** Approves an `on_hold` approval job (`approval_request_id` is the job id). */
  async approve(
    workflowId: string,
    approvalRequestId: string,
    userId: string,
    audit?: AuditContext,
  ): Promise<void> {
    await this.db.transaction(async (tx) => {
      await this.lockWorkflow(tx, workflowId);
      const { rows } = await tx.query(
        "SELECT * FROM jobs WHERE workflow_id = $1 AND id::text = $2 AND type = 'approval'",
        [workflowId, approvalRequestId],
      );
      const job = rows[0] ? toJob(rows[0]) : null;
      if (!job) throw notFound("approval request");
      if (job.status !== "on_hold") {
        throw new ControlPlaneError(
          "DROVER_ERR_INVALID_STATE",
          `approval job ${job.name} is ${job.status}, not on_hold`,
        );
      }
      const approved = await tx.query<JobAuditRow>(
        `UPDATE jobs SET status = 'success', approved_by = $2, stopped_at = now() WHERE id = $1
         RETURNING ${JOB_AUDIT_COLUMNS}`,
        [job.id, userId],
      );
      const user = await tx.query<{ login: string }>("SELECT login FROM users WHERE id = $1", [
        userId,
      ]);
      if (approved.rows[0]) {
        await auditJob(
          tx,
          "workflow.job.approve",
          approved.rows[0],
          audit?.actor ?? { id: userId, type: "user", name: user.rows[0]?.login ?? userId },
          audit?.requestId,
        );
      }
      await this.advanceLocked(tx, workflowId, undefined, audit?.requestId);
    });
    this.changed(workflowId);
    await this.submitPending([workflowId]);
  }

  /** Cancels every unfinished job of the workflow and stops its tasks. No-op once final. */
  async cancelWorkflow(
    workflowId: string,
    userId: string | null,
    audit?: AuditContext,
  ): Promise<void> {
    const stop = await this.db.transaction(async (tx) => {
      const wf = await this.lockWorkflow(tx, workflowId);
      if (wf.stoppedAt) return [];
      await tx.query("UPDATE workflows SET canceled_at = now(), canceled_by = $2 WHERE id = $1", [
        workflowId,
        userId,
      ]);
      await tx.query(
        `UPDATE jobs SET status = 'canceled', canceled_by = $2, stopped_at = now()
          WHERE workflow_id = $1 AND status IN ('blocked', 'queued', 'running', 'on_hold')`,
        [workflowId, userId],
      );
      const tasks = await tx.query<{ id: string }>(
        `UPDATE tasks SET status = 'canceled', finished_at = now()
          WHERE workflow_id = $1 AND status = ANY($2::text[]) RETURNING id`,
        [workflowId, ACTIVE_TASK_STATUSES],
      );
      await this.advanceLocked(tx, workflowId);
      await recordAudit(tx, {
        action: "workflow.cancel",
        actor: audit?.actor ?? SYSTEM_ACTOR,
        target: { id: workflowId, type: "workflow", name: wf.name },
        payload: { pipeline_id: wf.pipelineId, project_id: wf.projectId },
        requestId: audit?.requestId ?? null,
      });
      return tasks.rows.map((r) => r.id);
    });
    this.changed(workflowId);
    await this.stopTasks(stop);
  }

  /** Ends a queued job `unauthorized` without running it (its tasks never reach the backend). */
  private async refuseJob(jobId: string, reason: string): Promise<void> {
    const row = (await this.db.query("SELECT workflow_id FROM jobs WHERE id = $1", [jobId]))
      .rows[0];
    if (!row) return;
    const workflowId = String(row.workflow_id);
    await this.db.transaction(async (tx) => {
      await this.lockWorkflow(tx, workflowId);
      await tx.query(
        `UPDATE tasks SET status = 'canceled', message = $2, finished_at = now(), token_hash = NULL
          WHERE job_id = $1 AND status = ANY($3::text[])`,
        [jobId, `unauthorized: ${reason}`, ACTIVE_TASK_STATUSES],
      );
      await tx.query(
        "UPDATE jobs SET status = 'unauthorized', stopped_at = now() WHERE id = $1 AND status = 'queued'",
        [jobId],
      );
      await this.advanceLocked(tx, workflowId);
    });
    this.log.info({ jobId, reason }, "job refused: context access");
    this.changed(workflowId);
    await this.submitPending([workflowId]);
  }

  /** Cancels one unfinished job; its dependants follow the usual rules. */
  async cancelJob(jobId: string, userId: string | null, audit?: AuditContext): Promise<void> {
    const job = await getJob(this.db, jobId);
    if (!job) throw notFound("job");
    const workflowId = job.workflowId;
    const stop = await this.db.transaction(async (tx) => {
      await this.lockWorkflow(tx, workflowId);
      const upd = await tx.query(
        `UPDATE jobs SET status = 'canceled', canceled_by = $2, stopped_at = now()
          WHERE id = $1 AND status IN ('blocked', 'queued', 'running', 'on_hold') RETURNING id`,
        [jobId, userId],
      );
      if (upd.rows.length === 0) return [];
      const tasks = await tx.query<{ id: string }>(
        `UPDATE tasks SET status = 'canceled', finished_at = now()
          WHERE job_id = $1 AND status = ANY($2::text[]) RETURNING id`,
        [jobId, ACTIVE_TASK_STATUSES],
      );
      await this.advanceLocked(tx, workflowId);
      await recordAudit(tx, {
        action: "job.cancel",
        actor: audit?.actor ?? SYSTEM_ACTOR,
        target: { id: jobId, type: "job", name: job.name },
        payload: { workflow_id: workflowId, job_number: job.number ?? null },
        requestId: audit?.requestId ?? null,
      });
      return tasks.rows.map((r) => r.id);
    });
    this.changed(workflowId);
    await this.stopTasks(stop);
    await this.submitPending([workflowId]);
  }

  private async stopTasks(ids: string[]): Promise<void> {
    for (const id of ids) {
      await this.opts.scheduler
        .cancel(id)
        .catch((err: unknown) => this.log.warn({ err, taskId: id }, "scheduler cancel failed"));
      await this.opts.scheduler.cleanup(id).catch(() => undefined);
    }
  }

  /**
   * Reruns a finished workflow as a new workflow of the same pipeline: every job, the failed
   * ones and their dependants (`fromFailed`), or chosen jobs and their dependants (`jobs`; only
   * those jobs with `sparseTree`). Jobs not rerun keep their statuses for the requirements of the
   * rerun ones. `enableSsh` (needs `jobs`) is stored on the chosen jobs.
   */
  async rerun(
    workflowId: string,
    opts: RerunOptions,
    userId: string | null,
    audit?: AuditContext,
  ): Promise<string> {
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
    const id = randomUUID();
    await this.db.transaction(async (tx) => {
      const wf = await this.lockWorkflow(tx, workflowId);
      if (!wf.stoppedAt) {
        throw new ControlPlaneError(
          "DROVER_ERR_INVALID_STATE",
          "the workflow has not finished yet",
        );
      }
      const jobs = await listJobs(tx, workflowId);
      let selected = new Set<string>();
      let rerunSet: Set<string>;
      if (opts.jobs?.length) {
        const byId = new Map(jobs.map((j) => [j.id, j]));
        opts.jobs.forEach((jid, i) => {
          const j = byId.get(jid);
          if (!j)
            throw invalid(`job ${jid} is not in this workflow`, [
              { field: `jobs.${i}`, message: "unknown job id" },
            ]);
          selected.add(j.name);
        });
        rerunSet = opts.sparseTree
          ? new Set(selected)
          : new Set([...selected, ...descendants(jobs, selected)]);
      } else if (opts.fromFailed) {
        const failed = new Set(jobs.filter((j) => j.status !== "success").map((j) => j.name));
        if (failed.size === 0) {
          throw new ControlPlaneError(
            "DROVER_ERR_INVALID_STATE",
            "the workflow has no failed jobs",
          );
        }
        rerunSet = new Set([...failed, ...descendants(jobs, failed)]);
      } else {
        rerunSet = new Set(jobs.map((j) => j.name));
        selected = new Set();
      }
      const carried: Record<string, JobStatus> = { ...wf.carried };
      for (const j of jobs) if (!rerunSet.has(j.name)) carried[j.name] = j.status;
      await tx.query(
        `INSERT INTO workflows (id, pipeline_id, project_id, name, status, rerun_of, carried, started_by)
         VALUES ($1, $2, $3, $4, 'running', $5, $6::jsonb, $7)`,
        [id, wf.pipelineId, wf.projectId, wf.name, workflowId, JSON.stringify(carried), userId],
      );
      const inserted = await this.insertJobs(
        tx,
        id,
        wf.projectId,
        jobs
          .filter((j) => rerunSet.has(j.name))
          .map((j) => ({
            plan: j.plan,
            position: j.position,
            enableSsh: Boolean(opts.enableSsh) && selected.has(j.name),
            rerunOf: j.id,
          })),
      );
      await this.advanceLocked(tx, id, undefined, audit?.requestId);
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
      await this.numberJobs(
        tx,
        wf.projectId,
        inserted.filter((j) => j.type === "build").map((j) => j.id),
      );
    });
    this.changed(id);
    await this.submitPending([id]);
    return id;
  }
}
