import { hostname } from "node:os";
import type { Logger } from "pino";
import type { Database } from "../../db/types.js";
import type { SchedulerBackend, TaskState } from "../types.js";
import {
  claim,
  forgetToken,
  heartbeat,
  markCancelSent,
  pendingCancels,
  pendingCleanups,
  recordStatus,
  removeRow,
  runnerActiveRows,
} from "./store.js";

export interface QueueRunnerOptions {
  db: Database;
  logger: Logger;
  /** Runs the agents on this host: the local scheduler. */
  local: SchedulerBackend;
  /** Stable across restarts, so a restarted runner adopts (or reports lost) its own tasks. */
  runnerId: string;
  /** Tasks run at once (default 4). */
  capacity?: number;
  /** Period of the claim/cancel/cleanup pass (default 500 ms). */
  pollMs?: number;
  /** Period of the heartbeat (default 5 s; keep well under the control plane's runner timeout). */
  heartbeatMs?: number;
}

/**
 * The worker side of the `queue` backend: claims queued tasks (oldest first, `SKIP LOCKED`, up to
 * its capacity), runs each agent with the local scheduler, and writes every status change back.
 * Statuses that cannot be written (the database restarting) are kept and written on a later pass,
 * newest per task, so none is lost. Carries out cancels and cleanups the control plane flags.
 */
export class QueueRunner {
  private readonly log: Logger;
  private readonly pending = new Map<string, TaskState>();
  private timer: NodeJS.Timeout | undefined;
  private pass: Promise<void> | undefined;
  private unwatch: (() => void) | undefined;
  private lastBeat = 0;
  private stopped = false;

  constructor(private readonly opts: QueueRunnerOptions) {
    this.log = opts.logger.child({ unit: "runner", runner: opts.runnerId });
  }

  get capacity(): number {
    return this.opts.capacity ?? 4;
  }

  /** Registers, adopts its tasks from before a restart, then claims work every `pollMs`. */
  async start(): Promise<void> {
    await this.beat();
    this.unwatch = this.opts.local.watch((e) => {
      if (e.status.state === "queued") return;
      this.pending.set(e.taskId, e.status);
      this.kick();
    });
    const mine = await runnerActiveRows(this.opts.db, this.opts.runnerId);
    await this.opts.local.reconcile(new Set(mine.map((r) => r.taskId)));
    this.timer = setInterval(() => this.kick(), this.opts.pollMs ?? 500);
    this.kick();
    this.log.info({ capacity: this.capacity, adopted: mine.length }, "runner started");
  }

  /** Stops claiming; running agents keep running (a restart adopts them). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    this.unwatch?.();
    await this.pass;
    await this.flush().catch(() => undefined);
    await this.opts.local.close();
  }

  /** Resolves when the current pass (if any) is done. */
  async idle(): Promise<void> {
    await this.pass;
  }

  private kick(): void {
    if (this.pass || this.stopped) return;
    this.pass = this.once()
      .catch((err: unknown) => this.log.warn({ err }, "runner pass failed; retrying"))
      .finally(() => (this.pass = undefined));
  }

  private async once(): Promise<void> {
    if (Date.now() - this.lastBeat >= (this.opts.heartbeatMs ?? 5_000)) await this.beat();
    await this.flush();
    const { db, runnerId, local } = this.opts;
    for (const id of await pendingCancels(db, runnerId)) {
      await local.cancel(id);
      await markCancelSent(db, id);
    }
    for (const id of await pendingCleanups(db, runnerId)) {
      await local.cleanup(id);
      await removeRow(db, id);
    }
    const busy = (await runnerActiveRows(db, runnerId)).length;
    for (const plan of await claim(db, runnerId, this.capacity - busy)) {
      this.log.info({ taskId: plan.taskId, job: plan.job.name }, "task claimed");
      try {
        await local.submit(plan);
        await forgetToken(db, plan.taskId);
      } catch (err) {
        this.log.error({ err, taskId: plan.taskId }, "starting the agent failed");
        this.pending.set(plan.taskId, {
          state: "lost",
          at: new Date().toISOString(),
          reason: `runner ${runnerId} could not start the agent: ${(err as Error).message}`,
        });
      }
    }
    await this.flush();
  }

  private async beat(): Promise<void> {
    await heartbeat(this.opts.db, {
      id: this.opts.runnerId,
      host: hostname(),
      capacity: this.capacity,
    });
    this.lastBeat = Date.now();
  }

  /** Writes kept statuses; one that fails stays kept for the next pass. */
  private async flush(): Promise<void> {
    for (const [taskId, status] of [...this.pending]) {
      await recordStatus(this.opts.db, this.opts.runnerId, taskId, status);
      if (this.pending.get(taskId) === status) this.pending.delete(taskId);
    }
  }
}
