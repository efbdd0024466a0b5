import type { Logger } from "pino";
import type { AuditContext } from "../audit/events.js";
import type { ServiceUrls } from "../config/urls.js";
import type { Database, Queryable } from "../db/types.js";
import type { SchedulerBackend } from "../scheduler/types.js";
import { advanceWorkflow } from "./advance.js";
import { WorkflowChanges, type AfterCommit, type WorkflowChangeListener } from "./changes.js";
import { WorkflowCommands } from "./commands.js";
import { createWorkflows, type NewWorkflows } from "./create.js";
import { Dispatcher } from "./dispatch.js";
import { TaskResults, type TaskResult } from "./results.js";
import type { RerunOptions } from "./rerun.js";
import type { TaskSecretsProvider } from "./secrets-provider.js";
import { activeTaskIds } from "./store/tasks.js";
import { lockWorkflow } from "./store/workflows.js";

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

/**
 * The workflow engine: one object over the engine's parts, each in its own module. `create`
 * stores a plan's workflows, `advance` applies the workflow rules, `dispatch` hands pending
 * tasks to the scheduler backend, `results` folds task results into jobs, `commands` carries out
 * approve, cancel and rerun. All state lives in the database, and every transition runs in a
 * transaction that first locks the workflow row, so several instances on one PostgreSQL
 * serialize per workflow and never queue a job twice. Effects outside the database (listeners,
 * the backend) happen only after commit. `start()` after a crash reconciles the backend's tasks
 * with the active ones and carries on; a task whose instance died before submitting it stays
 * `pending` and the next tick of any instance submits it with a fresh token.
 */
export class WorkflowEngine {
  private readonly log: Logger;
  private readonly changes: WorkflowChanges;
  private readonly dispatcher: Dispatcher;
  private readonly results: TaskResults;
  private readonly commands: WorkflowCommands;
  private readonly inflight = new Set<Promise<unknown>>();
  private timer: NodeJS.Timeout | undefined;
  private unwatch: (() => void) | undefined;
  private ticking: Promise<void> | undefined;

  constructor(private readonly opts: EngineOptions) {
    this.log = opts.logger.child({ unit: "engine" });
    this.changes = new WorkflowChanges(this.log);
    const after: AfterCommit = {
      changed: (id) => this.changes.notify(id),
      submit: (ids) => this.dispatcher.submitPending(ids),
    };
    const parts = { db: opts.db, scheduler: opts.scheduler, log: this.log, after };
    this.results = new TaskResults(parts);
    this.commands = new WorkflowCommands(parts);
    this.dispatcher = new Dispatcher({
      db: opts.db,
      scheduler: opts.scheduler,
      logger: opts.logger,
      urls: opts.urls,
      instanceId: opts.instanceId ?? null,
      access: opts.access,
      tokenTtlMs: opts.taskTokenTtlMs ?? 10 * 60_000,
      leaseMs: opts.submitLeaseMs ?? 15_000,
      failTask: (id, message) => this.results.finishTask(id, "infrastructure_fail", message),
      refuseJob: (jobId, reason) => this.results.refuseJob(jobId, reason),
      track: (work) => this.track(work),
    });
  }

  get db(): Database {
    return this.opts.db;
  }

  /** Subscribes to the backend, reconciles active tasks, submits pending ones, starts the tick. */
  async start(): Promise<void> {
    const { scheduler } = this.opts;
    this.unwatch = scheduler.watch((e) => this.track(this.results.onSchedulerEvent(e)));
    const active = await activeTaskIds(this.db, this.opts.instanceId ?? null);
    await scheduler.reconcile(new Set(active));
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
  onWorkflowChange(listener: WorkflowChangeListener): () => void {
    return this.changes.subscribe(listener);
  }

  /** Tells listeners a workflow changed (after commit). */
  changed(workflowId: string): void {
    this.changes.notify(workflowId);
  }

  /** Housekeeping: submit pending tasks, fail tokens that expired unclaimed. */
  async tick(): Promise<void> {
    await this.dispatcher.submitPending();
    await this.dispatcher.expireTokens();
  }

  /**
   * Stores the plan's workflows and jobs for a pipeline inside the caller's transaction and
   * queues the jobs that can start. Call `kick()` with the returned ids after commit.
   */
  createWorkflows(tx: Queryable, input: NewWorkflows): Promise<string[]> {
    return createWorkflows(tx, input, this.log);
  }

  /**
   * After a commit that queued work: tell listeners, then submit pending tasks in the background.
   * Kicks that arrive while a submission pass runs coalesce into one more pass.
   */
  kick(workflowIds: string[]): void {
    for (const id of workflowIds) this.changes.notify(id);
    if (workflowIds.length > 0) this.dispatcher.kick();
  }

  /** Re-applies the rules to a workflow (idempotent). */
  async advance(workflowId: string): Promise<void> {
    await this.db.transaction(async (tx) => {
      await lockWorkflow(tx, workflowId);
      await advanceWorkflow(tx, workflowId, { log: this.log });
    });
    this.changes.notify(workflowId);
    await this.dispatcher.submitPending([workflowId]);
  }

  /** Hands pending tasks to the backend (all, or those of some workflows); resolves to the number taken. */
  submitPending(workflowIds?: string[]): Promise<number> {
    return this.dispatcher.submitPending(workflowIds);
  }

  /** Records a task's final result (idempotent; false when unknown or already final). */
  finishTask(taskId: string, result: TaskResult, message?: string): Promise<boolean> {
    return this.results.finishTask(taskId, result, message);
  }

  /** Approves an `on_hold` approval job (`approvalRequestId` is the job id). */
  approve(
    workflowId: string,
    approvalRequestId: string,
    userId: string,
    audit?: AuditContext,
  ): Promise<void> {
    return this.commands.approve(workflowId, approvalRequestId, userId, audit);
  }

  /** Cancels every unfinished job of the workflow and stops its tasks. No-op once final. */
  cancelWorkflow(workflowId: string, userId: string | null, audit?: AuditContext): Promise<void> {
    return this.commands.cancelWorkflow(workflowId, userId, audit);
  }

  /** Cancels one unfinished job; its dependants follow the usual rules. */
  cancelJob(jobId: string, userId: string | null, audit?: AuditContext): Promise<void> {
    return this.commands.cancelJob(jobId, userId, audit);
  }

  /** Reruns a finished workflow as a new one of the same pipeline; resolves to its id. */
  rerun(
    workflowId: string,
    opts: RerunOptions,
    userId: string | null,
    audit?: AuditContext,
  ): Promise<string> {
    return this.commands.rerun(workflowId, opts, userId, audit);
  }

  private track(work: Promise<unknown>): void {
    const guarded = work.catch((err: unknown) =>
      this.log.error({ err }, "engine background work failed"),
    );
    this.inflight.add(guarded);
    void guarded.finally(() => this.inflight.delete(guarded));
  }
}
