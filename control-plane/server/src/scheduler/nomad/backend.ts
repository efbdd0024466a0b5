import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import {
  META_TASK_ID,
  NomadClient,
  NomadError,
  NomadErrorCode,
  buildTaskJob,
  type AllocationListStub,
  type JobSpecConfig,
  type NomadConfig,
} from "@drover/nomad-jobs";
import {
  SchedulerUnavailableError,
  type SchedulerBackend,
  type TaskPlan,
  type TaskState,
  type TaskStatusEvent,
} from "../types.js";
import { allocToTaskState, isFinal, toTaskSpecInput } from "./map.js";

export interface NomadSchedulerOptions {
  client: NomadClient;
  /** How tasks become Nomad jobs (datacenters, node pool, driver, resource classes...). */
  spec: JobSpecConfig;
  logger: Logger;
  /** Close the client on `close()` (set when the backend was given its own client). */
  ownsClient?: boolean;
  /** Event stream reconnect backoff and idle timeout. */
  stream?: { minDelayMs?: number; maxDelayMs?: number; idleTimeoutMs?: number };
}

interface Tracked {
  jobId: string;
  /** ClientStatus of the newest allocation seen. */
  clientStatus?: string;
  /** cleanup() came while the agent still ran: purge once its allocation is terminal. */
  purgeWhenDone?: boolean;
  /** CreateIndex of the newest allocation seen; older allocations' events are ignored. */
  allocIndex: number;
  /** ModifyIndex of that allocation; a stale read of it is ignored. */
  allocModifyIndex: number;
  state: TaskState | undefined;
}

/**
 * The `nomad` backend: one batch job per task (`buildTaskJob`), registered create-only
 * (`EnforceIndex` with index 0) so a repeated submit is a no-op; allocation updates from the
 * event stream become task states; cancel deregisters, cleanup purges; reconcile adopts the
 * `drover-` jobs the engine still knows and purges the rest. Failing to reach Nomad surfaces as
 * `SchedulerUnavailableError` (bounded by the client's timeouts and retries, never a hang).
 */
export class NomadScheduler implements SchedulerBackend {
  readonly name = "nomad" as const;
  readonly #client: NomadClient;
  readonly #spec: JobSpecConfig;
  readonly #log: Logger;
  readonly #namespace: string;
  readonly #tasks = new Map<string, Tracked>();
  readonly #byJob = new Map<string, string>();
  readonly #listeners = new Set<(e: TaskStatusEvent) => void>();
  #stream: AbortController | undefined;
  #streamDone: Promise<void> | undefined;
  /** Index to start the event stream at (the newest index this backend has seen). */
  #index = 0;
  #closed = false;
  /** Active task ids of a reconcile that could not reach Nomad yet. */
  #pendingReconcile: ReadonlySet<string> | undefined;
  /** Events handled since start (benchmarks read it). */
  eventsProcessed = 0;

  constructor(private readonly opts: NomadSchedulerOptions) {
    this.#client = opts.client;
    this.#spec = opts.spec;
    this.#log = opts.logger.child({ unit: "scheduler-nomad" });
    this.#namespace = opts.spec.namespace ?? opts.client.config.namespace ?? "default";
  }

  /** A backend with its own client from Nomad's configuration. */
  static fromConfig(nomad: NomadConfig, spec: JobSpecConfig, logger: Logger): NomadScheduler {
    return new NomadScheduler({
      client: new NomadClient(nomad, { logger }),
      spec,
      logger,
      ownsClient: true,
    });
  }

  /** The Nomad client (operators' views use it). */
  get client(): NomadClient {
    return this.#client;
  }

  /** The namespace Drover's jobs live in. */
  get namespace(): string {
    return this.#namespace;
  }

  /** The Nomad job ID a task runs as, if known. */
  jobIdOf(taskId: string): string | undefined {
    return this.#tasks.get(taskId)?.jobId;
  }

  async submit(plan: TaskPlan): Promise<void> {
    this.#assertOpen();
    const { Job } = buildTaskJob(toTaskSpecInput(plan), this.#spec);
    let created = true;
    try {
      const res = await this.#client.jobs.register(
        Job,
        { enforceIndex: true, jobModifyIndex: 0 },
        { namespace: this.#namespace },
      );
      this.#seen(res.meta.lastIndex);
    } catch (err) {
      if (!(
        err instanceof NomadError && (err.body ?? "").includes("Enforcing job modify index 0")
      )) {
        throw this.#unavailable(err, `submit task ${plan.taskId}`);
      }
      created = false; // registered before: the same task is one job
    }
    this.#log.info(
      { taskId: plan.taskId, jobId: Job.ID, created },
      created ? "registered Nomad job" : "Nomad job already registered",
    );
    if (!this.#tasks.has(plan.taskId)) {
      this.#track(plan.taskId, Job.ID);
      this.#emit(plan.taskId, { state: "queued" });
      // The stream may have carried this job's allocation before it was tracked (a fast
      // placement answers before the register call returns): read it once.
      if (this.#listeners.size > 0) await this.#sync(plan.taskId, false);
    }
    this.#ensureStream();
  }

  async cancel(taskId: string): Promise<void> {
    this.#assertOpen();
    const jobId = await this.#findJob(taskId);
    if (!jobId) return;
    await this.#deregister(jobId, false, `cancel task ${taskId}`);
    this.#log.info({ taskId, jobId }, "deregistered Nomad job");
  }

  /**
   * Purges the task's job. If its agent is still running (it reported and is tidying up), the
   * purge waits for the allocation to end, so Nomad does not kill the agent mid-cleanup.
   */
  async cleanup(taskId: string): Promise<void> {
    this.#assertOpen();
    const tracked = this.#tasks.get(taskId);
    if (tracked?.clientStatus === "running" && this.#stream) {
      tracked.purgeWhenDone = true;
      this.#log.info(
        { taskId, jobId: tracked.jobId },
        "purging the Nomad job once its agent exits",
      );
      return;
    }
    const jobId = await this.#findJob(taskId);
    if (!jobId) return;
    await this.#purge(taskId, jobId);
  }

  async #purge(taskId: string, jobId: string): Promise<void> {
    await this.#deregister(jobId, true, `clean up task ${taskId}`);
    this.#tasks.delete(taskId);
    this.#byJob.delete(jobId);
    this.#log.info({ taskId, jobId }, "purged Nomad job");
  }

  watch(listener: (event: TaskStatusEvent) => void): () => void {
    this.#listeners.add(listener);
    this.#ensureStream();
    return () => {
      this.#listeners.delete(listener);
      if (this.#listeners.size === 0) this.#stopStream();
    };
  }

  /**
   * Adopts the `drover-` jobs of tasks the engine still knows, purges the others, and reports
   * active tasks without a job as lost. If Nomad cannot be reached, reconciliation is deferred
   * until the event stream reconnects (the control plane starts without Nomad).
   */
  async reconcile(activeTaskIds: ReadonlySet<string>): Promise<void> {
    this.#assertOpen();
    try {
      await this.#reconcileNow(activeTaskIds);
      this.#pendingReconcile = undefined;
    } catch (err) {
      if (!(err instanceof SchedulerUnavailableError)) throw err;
      this.#pendingReconcile = new Set(activeTaskIds);
      this.#log.warn({ err }, "Nomad unreachable: reconciling once it answers");
      this.#ensureStream();
    }
  }

  async #reconcileNow(activeTaskIds: ReadonlySet<string>): Promise<void> {
    let jobs;
    try {
      jobs = await this.#client.jobs.list(
        { prefix: `${this.#spec.idPrefix}-`, meta: true },
        { namespace: this.#namespace },
      );
    } catch (err) {
      throw this.#unavailable(err, "list Drover's Nomad jobs");
    }
    this.#seen(jobs.meta.lastIndex);
    const found = new Set<string>();
    for (const job of jobs.data) {
      const taskId = job.Meta?.[META_TASK_ID];
      if (!taskId) continue; // not a Drover task job
      found.add(taskId);
      if (activeTaskIds.has(taskId)) {
        this.#track(taskId, job.ID);
        await this.#sync(taskId, true);
      } else {
        this.#log.warn(
          { taskId, jobId: job.ID },
          "purging Nomad job of a task the engine does not know",
        );
        await this.#deregister(job.ID, true, `purge orphan job ${job.ID}`);
        this.#tasks.delete(taskId);
        this.#byJob.delete(job.ID);
      }
    }
    for (const taskId of activeTaskIds) {
      if (found.has(taskId)) continue;
      this.#emit(taskId, {
        state: "lost",
        at: new Date().toISOString(),
        reason: "no Nomad job found for this task after a control-plane restart",
      });
    }
    this.#ensureStream();
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#stopStream();
    await this.#streamDone?.catch(() => undefined);
    if (this.opts.ownsClient) await this.#client.close();
  }

  // ---- internals -----------------------------------------------------------------------------

  #assertOpen(): void {
    if (this.#closed) throw new Error("the nomad scheduler is closed");
  }

  #track(taskId: string, jobId: string): void {
    if (!this.#tasks.has(taskId))
      this.#tasks.set(taskId, { jobId, allocIndex: 0, allocModifyIndex: 0, state: undefined });
    this.#byJob.set(jobId, taskId);
  }

  #seen(index: number): void {
    if (index > this.#index) this.#index = index;
  }

  /** Emits a status when it differs from the last one (or always with `force`), never after a final one. */
  #emit(taskId: string, state: TaskState, force = false): void {
    const t = this.#tasks.get(taskId);
    if (t) {
      if (t.state && isFinal(t.state) && !force) return;
      if (!force && t.state?.state === state.state) return;
      t.state = state;
    }
    for (const l of this.#listeners) {
      try {
        l({ taskId, status: state });
      } catch (err) {
        this.#log.error({ err, taskId }, "status listener threw");
      }
    }
  }

  #onAllocation(alloc: AllocationListStub, force = false): void {
    const taskId = this.#byJob.get(alloc.JobID);
    if (!taskId) return;
    const t = this.#tasks.get(taskId)!;
    if (alloc.CreateIndex < t.allocIndex) return;
    if (alloc.CreateIndex === t.allocIndex && alloc.ModifyIndex < t.allocModifyIndex) return;
    t.allocIndex = alloc.CreateIndex;
    t.allocModifyIndex = alloc.ModifyIndex;
    t.clientStatus = alloc.ClientStatus;
    if (t.purgeWhenDone && ["complete", "failed", "lost"].includes(alloc.ClientStatus)) {
      t.purgeWhenDone = false;
      void this.#purge(taskId, t.jobId).catch((err: unknown) =>
        this.#log.warn(
          { err, taskId, jobId: t.jobId },
          "deferred purge failed; reconcile will retry",
        ),
      );
    }
    const state = allocToTaskState(alloc);
    if (state) this.#emit(taskId, state, force);
  }

  /** Reads a task's allocations and emits its current status. */
  async #sync(taskId: string, force: boolean): Promise<void> {
    const t = this.#tasks.get(taskId);
    if (!t) return;
    try {
      const res = await this.#client.jobs.allocations(t.jobId, {}, { namespace: this.#namespace });
      this.#seen(res.meta.lastIndex);
      const newest = [...res.data].sort((a, b) => b.CreateIndex - a.CreateIndex)[0];
      if (newest) this.#onAllocation(newest, force);
      else if (force)
        this.#emit(taskId, t.state && !isFinal(t.state) ? t.state : { state: "queued" }, true);
    } catch (err) {
      if (err instanceof NomadError && err.code === NomadErrorCode.NotFound) return;
      throw this.#unavailable(err, `read allocations of ${t.jobId}`);
    }
  }

  async #findJob(taskId: string): Promise<string | undefined> {
    const known = this.#tasks.get(taskId)?.jobId;
    if (known) return known;
    try {
      const res = await this.#client.jobs.list(
        { prefix: `${this.#spec.idPrefix}-`, meta: true },
        { namespace: this.#namespace },
      );
      return res.data.find((j) => j.Meta?.[META_TASK_ID] === taskId)?.ID;
    } catch (err) {
      throw this.#unavailable(err, `find the Nomad job of task ${taskId}`);
    }
  }

  async #deregister(jobId: string, purge: boolean, what: string): Promise<void> {
    try {
      const res = await this.#client.jobs.deregister(
        jobId,
        { purge },
        { namespace: this.#namespace },
      );
      this.#seen(res.meta.lastIndex);
    } catch (err) {
      if (err instanceof NomadError && err.code === NomadErrorCode.NotFound) return;
      throw this.#unavailable(err, what);
    }
  }

  #unavailable(err: unknown, what: string): unknown {
    if (
      err instanceof NomadError &&
      (err.transient || err.code === NomadErrorCode.PermissionDenied)
    ) {
      return new SchedulerUnavailableError(`Nomad unavailable: cannot ${what}: ${err.message}`, {
        cause: err,
      });
    }
    return err;
  }

  #ensureStream(): void {
    if (this.#stream || this.#closed || this.#listeners.size === 0) return;
    const ac = new AbortController();
    this.#stream = ac;
    this.#streamDone = this.#runStream(ac.signal).finally(() => {
      if (this.#stream === ac) this.#stream = undefined;
    });
  }

  #stopStream(): void {
    this.#stream?.abort();
    this.#stream = undefined;
  }

  async #runStream(signal: AbortSignal): Promise<void> {
    const s = this.opts.stream ?? {};
    while (!signal.aborted) {
      try {
        if (this.#pendingReconcile) {
          await this.#reconcileNow(this.#pendingReconcile);
          this.#pendingReconcile = undefined;
          this.#log.info("deferred reconciliation with Nomad done");
        }
        if (this.#index === 0) {
          const res = await this.#client.jobs.list(
            { prefix: `${this.#spec.idPrefix}-` },
            { namespace: this.#namespace, signal },
          );
          this.#seen(res.meta.lastIndex);
        }
        // Anything that happened before the stream (re)started is read directly.
        await this.#syncAll();
        const sub = this.#client.events.subscribe({
          topics: ["Allocation"],
          index: this.#index,
          namespace: this.#namespace,
          signal,
          reconnect: { minDelayMs: s.minDelayMs ?? 250, maxDelayMs: s.maxDelayMs ?? 10_000 },
          idleTimeoutMs: s.idleTimeoutMs,
          onReconnect: ({ error }) => {
            this.#log.warn({ err: error }, "Nomad event stream reconnecting");
            void this.#syncAll().catch((err: unknown) =>
              this.#log.warn({ err }, "resync after reconnect failed"),
            );
          },
        });
        for await (const batch of sub) {
          for (const e of batch.Events) {
            this.eventsProcessed++;
            const alloc = e.Payload.Allocation as AllocationListStub | undefined;
            if (alloc) this.#onAllocation(alloc);
          }
          this.#seen(batch.Index);
        }
      } catch (err) {
        if (signal.aborted) return;
        this.#log.error({ err }, "Nomad event stream failed; retrying");
        await sleep(s.maxDelayMs ?? 10_000, undefined, { signal }).catch(() => undefined);
      }
    }
  }

  async #syncAll(): Promise<void> {
    const open = [...this.#tasks.entries()]
      .filter(([, t]) => !t.state || !isFinal(t.state))
      .map(([id]) => id);
    for (const taskId of open) await this.#sync(taskId, false);
  }
}
