import type { Logger } from "pino";
import type { Database } from "../../db/types.js";
import {
  SchedulerUnavailableError,
  type SchedulerBackend,
  type TaskPlan,
  type TaskStatusEvent,
} from "../types.js";
import {
  allRows,
  enqueue,
  FINAL_ROW_STATES,
  loseTasksOfSilentRunners,
  requestCancel,
  requestCleanup,
} from "./store.js";

export interface QueueSchedulerOptions {
  db: Database;
  logger: Logger;
  /** How often the queue is read for status changes (default 500 ms). */
  pollMs?: number;
  /** A runner without a heartbeat for this long has lost its tasks (default 30 s). */
  runnerTimeoutMs?: number;
  /**
   * `reconcile` stops unlisted tasks only when they are older than this (default 10 s), so a task
   * another instance queued after the engine read its active list is left alone.
   */
  orphanGraceMs?: number;
}

/**
 * The `queue` backend, for several control-plane instances and separate runners: `submit` puts
 * the plan in the database (`runner_tasks`), a runner (`drover runner`, see `QueueRunner`) claims
 * it and runs its agent with the local scheduler, writing each status back. Every instance reads
 * the statuses and hands them to its engine (which dedupes), so an instance that dies loses
 * nothing: the others keep watching. Tasks of a runner that stops answering become `lost`.
 * The database is the queue's only infrastructure: when it cannot be reached, calls fail with
 * `SchedulerUnavailableError` and the engine retries.
 */
export class QueueScheduler implements SchedulerBackend {
  readonly name = "queue" as const;
  private readonly log: Logger;
  private readonly listeners = new Set<(e: TaskStatusEvent) => void>();
  /** The last event seq delivered per task. */
  private readonly seen = new Map<string, string>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;
  private lastSweep = 0;
  private closed = false;

  constructor(private readonly opts: QueueSchedulerOptions) {
    this.log = opts.logger.child({ unit: "scheduler-queue" });
  }

  private get runnerTimeoutMs(): number {
    return this.opts.runnerTimeoutMs ?? 30_000;
  }

  async submit(plan: TaskPlan): Promise<void> {
    await this.guard("queue the task", () => enqueue(this.opts.db, plan));
    this.poll();
  }

  async cancel(taskId: string): Promise<void> {
    await this.guard("cancel the task", () => requestCancel(this.opts.db, taskId));
  }

  async cleanup(taskId: string): Promise<void> {
    await this.guard("clean up the task", () =>
      requestCleanup(this.opts.db, taskId, this.runnerTimeoutMs),
    );
  }

  watch(listener: (event: TaskStatusEvent) => void): () => void {
    this.listeners.add(listener);
    if (!this.timer && !this.closed) {
      this.timer = setInterval(() => this.poll(), this.opts.pollMs ?? 500);
      this.timer.unref();
      this.poll();
    }
    return () => this.listeners.delete(listener);
  }

  async reconcile(activeTaskIds: ReadonlySet<string>): Promise<void> {
    const rows = await this.guard("read the queue", () => allRows(this.opts.db));
    const byId = new Map(rows.map((r) => [r.taskId, r]));
    const at = new Date().toISOString();
    for (const id of activeTaskIds) {
      const row = byId.get(id);
      if (row) this.emit({ taskId: id, status: row.status });
      else {
        this.emit({
          taskId: id,
          status: { state: "lost", at, reason: "the runner queue has no record of this task" },
        });
      }
    }
    const grace = Date.now() - (this.opts.orphanGraceMs ?? 10_000);
    for (const row of rows) {
      if (activeTaskIds.has(row.taskId) || FINAL_ROW_STATES.includes(row.state)) continue;
      if (row.cancelRequested || row.createdAt.getTime() > grace) continue;
      this.log.warn({ taskId: row.taskId }, "stopping a queued task the engine no longer knows");
      await this.cancel(row.taskId);
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
    this.listeners.clear();
  }

  /** One read of the queue at a time; a read asked for while one runs is skipped. */
  private poll(): void {
    if (this.polling || this.closed || this.listeners.size === 0) return;
    this.polling = this.readChanges()
      .catch((err: unknown) => this.log.warn({ err }, "reading the runner queue failed"))
      .finally(() => (this.polling = undefined));
  }

  private async readChanges(): Promise<void> {
    const now = Date.now();
    if (now - this.lastSweep >= Math.min(5_000, this.runnerTimeoutMs / 2)) {
      this.lastSweep = now;
      const lost = await loseTasksOfSilentRunners(this.opts.db, this.runnerTimeoutMs);
      if (lost.length > 0) this.log.warn({ tasks: lost }, "tasks of a silent runner are lost");
    }
    // Rows are the active tasks and final ones not cleaned up yet: few enough to read whole,
    // which also sees changes whose sequence number committed out of order.
    const rows = await allRows(this.opts.db);
    const present = new Set<string>();
    for (const row of rows) {
      present.add(row.taskId);
      if (row.state === "canceled" || this.seen.get(row.taskId) === row.eventSeq) continue;
      this.seen.set(row.taskId, row.eventSeq);
      this.emit({ taskId: row.taskId, status: row.status });
    }
    for (const id of this.seen.keys()) if (!present.has(id)) this.seen.delete(id);
  }

  private emit(event: TaskStatusEvent): void {
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.log.error({ err, taskId: event.taskId }, "scheduler listener failed");
      }
    }
  }

  private async guard<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw new SchedulerUnavailableError(
        `cannot ${what}: the runner queue (database) is unreachable: ${(err as Error).message}`,
        { cause: err },
      );
    }
  }
}
