/**
 * Dispatching: hands `pending` tasks to the scheduler backend.
 *
 * Rules. A task is taken under a short lease with one conditional UPDATE, so two instances (or
 * two passes of one) never submit the same task; its token is minted at that moment and only the
 * hash is stored, so a resubmission never reuses a token. The lease is released when the backend
 * accepts the task (`submitted`); when the backend is unavailable the task stays `pending` and a
 * later pass takes it again once the lease expired. A task the backend refuses ends
 * `infrastructure_fail`; a job whose context access is refused ends `unauthorized` and none of
 * its tasks reach the backend. `kick` runs passes in the background and coalesces: kicks during
 * a pass cause one more pass. A submitted task whose token expires unclaimed is failed and
 * canceled by `expireTokens`.
 */
import type { Logger } from "pino";
import type { ServiceUrls } from "../config/urls.js";
import type { Database } from "../db/types.js";
import { generateToken, hashToken, TASK_TOKEN_PREFIX } from "../auth/tokens.js";
import {
  SchedulerUnavailableError,
  type SchedulerBackend,
  type TaskPlan,
} from "../scheduler/types.js";
import type { TaskSecretsProvider } from "./secrets-provider.js";
import {
  expiredUnclaimedTaskIds,
  leaseTasks,
  markSubmitted,
  pendingTaskIds,
  type LeasedTask,
} from "./store/tasks.js";

/** Tasks taken per submission pass. */
export const SUBMIT_BATCH = 500;

export interface DispatcherOptions {
  db: Database;
  scheduler: SchedulerBackend;
  logger: Logger;
  urls: ServiceUrls;
  /** Recorded on each task it submits (machine-local backends); null otherwise. */
  instanceId: string | null;
  access?: Pick<TaskSecretsProvider, "checkAccess"> | undefined;
  tokenTtlMs: number;
  leaseMs: number;
  /** Ends a task `infrastructure_fail` with a message (the engine's task results). */
  failTask(taskId: string, message: string): Promise<unknown>;
  /** Ends a queued job `unauthorized` (the engine's task results). */
  refuseJob(jobId: string, reason: string): Promise<unknown>;
  /** Runs work in the background; the engine's `idle()` waits for it. */
  track(work: Promise<unknown>): void;
}

/** The plan the backend gets for a leased task. */
export function taskPlan(t: LeasedTask, token: string, urls: ServiceUrls): TaskPlan {
  return {
    taskId: t.id,
    taskToken: token,
    controlPlaneUrl: urls.controlPlane,
    outputUrl: urls.output,
    project: { slug: t.project.slug, name: t.project.name },
    pipeline: { id: t.pipeline.id, number: t.pipeline.number },
    workflow: { id: t.workflow.id, name: t.workflow.name },
    job: { id: t.job.id, name: t.job.name, number: t.job.number ?? 0, attempt: t.attempt },
    node: { index: t.nodeIndex, total: t.nodeTotal },
    resourceClass: t.resourceClass ?? "medium",
    executorType: t.executorType === "machine" ? "machine" : "docker",
    sshEnabled: t.enableSsh,
    jobUrl: `${urls.public}/jobs/${t.job.id}`,
  };
}

export class Dispatcher {
  private readonly log: Logger;
  private draining = false;
  private drainAgain = false;

  constructor(private readonly opts: DispatcherOptions) {
    this.log = opts.logger.child({ unit: "engine" });
  }

  /** Starts (or extends) background submission passes until no more pending tasks are taken. */
  kick(): void {
    if (this.draining) {
      this.drainAgain = true;
      return;
    }
    this.draining = true;
    this.opts.track(
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

  /** One pass over pending tasks (all, or those of some workflows); resolves to the number taken. */
  async submitPending(workflowIds?: string[]): Promise<number> {
    const { db, scheduler } = this.opts;
    const ids = await pendingTaskIds(db, workflowIds ?? null, SUBMIT_BATCH);
    if (ids.length === 0) return 0;
    const tokens = new Map(ids.map((id) => [id, generateToken(TASK_TOKEN_PREFIX)]));
    const leased = await leaseTasks(db, {
      tokenHashes: new Map([...tokens].map(([id, token]) => [id, hashToken(token)])),
      tokenTtlMs: this.opts.tokenTtlMs,
      leaseMs: this.opts.leaseMs,
      instanceId: this.opts.instanceId,
    });
    const submitted: string[] = [];
    const refused = new Map<string, string>();
    for (const t of leased) {
      if (refused.has(t.job.id)) continue;
      const denied = await this.deniedContext(t);
      if (denied) {
        refused.set(t.job.id, denied);
        continue;
      }
      const log = this.log.child({ taskId: t.id, jobId: t.job.id });
      try {
        await scheduler.submit(taskPlan(t, tokens.get(t.id) ?? "", this.opts.urls));
        submitted.push(t.id);
        log.debug("task submitted");
      } catch (err) {
        if (err instanceof SchedulerUnavailableError) {
          log.warn({ err }, "scheduler unavailable; the task stays pending");
          continue; // the lease expires and a later pass retries with a fresh token
        }
        log.error({ err }, "scheduler refused the task");
        await this.opts.failTask(t.id, `scheduler refused the task: ${String(err)}`);
      }
    }
    await markSubmitted(db, submitted);
    for (const [jobId, reason] of refused) await this.opts.refuseJob(jobId, reason);
    return leased.length;
  }

  /** Fails and cancels submitted tasks whose token expired before an agent claimed it. */
  async expireTokens(): Promise<void> {
    for (const id of await expiredUnclaimedTaskIds(this.opts.db)) {
      await this.opts.failTask(id, "task token expired unclaimed");
      await this.opts.scheduler.cancel(id).catch(() => undefined);
    }
  }

  /** Why the job may not use its contexts, or null when it may (or names none). */
  private async deniedContext(t: LeasedTask): Promise<string | null> {
    const access = this.opts.access;
    if (!access?.checkAccess || t.job.contexts.length === 0) return null;
    const result = await access.checkAccess({
      projectId: t.project.id,
      orgId: t.project.orgId,
      contexts: t.job.contexts,
      userId: t.userId,
    });
    return result.allowed ? null : `context '${result.context}': ${result.reason}`;
  }
}
