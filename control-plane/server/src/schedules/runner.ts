import type { Logger } from "pino";
import type { Database } from "../db/types.js";
import { getProject } from "../model/projects.js";
import type { Schedule } from "../model/records.js";
import { toSchedule } from "../model/rows.js";
import type { TriggerService } from "../pipelines/trigger.js";
import { nextRun } from "./timetable.js";

export interface ScheduleRunnerOptions {
  db: Database;
  trigger: TriggerService;
  logger: Logger;
  /** The clock; tests drive it. */
  now?: () => Date;
}

/** Far future for a timetable that never fires again. */
export const NEVER = new Date(Date.UTC(9999, 0, 1));

/**
 * Fires due schedules. Each occurrence fires once across instances: due rows are taken with
 * `FOR UPDATE SKIP LOCKED`, the occurrence is recorded in `schedule_runs` (primary key
 * schedule + time) and `next_run_at` moves past now in the same transaction; triggering happens
 * after commit. Occurrences missed while no instance ran are not replayed: the latest one fires.
 */
export class ScheduleRunner {
  private readonly log: Logger;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<number> | undefined;

  constructor(private readonly opts: ScheduleRunnerOptions) {
    this.log = opts.logger.child({ unit: "schedules" });
  }

  now(): Date {
    return this.opts.now?.() ?? new Date();
  }

  start(intervalMs: number): void {
    this.timer = setInterval(() => void this.tick(), intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  async idle(): Promise<void> {
    await this.running?.catch(() => undefined);
  }

  /** Runs one pass unless one is in progress; resolves to the number of pipelines triggered. */
  tick(): Promise<number> {
    this.running ??= this.runDue()
      .catch((err: unknown) => {
        this.log.error({ err }, "schedule pass failed");
        return 0;
      })
      .finally(() => (this.running = undefined));
    return this.running;
  }

  async runDue(): Promise<number> {
    const now = this.now();
    const due = await this.opts.db.transaction(async (tx) => {
      const { rows } = await tx.query(
        `SELECT * FROM schedules WHERE next_run_at <= $1 ORDER BY next_run_at LIMIT 100
           FOR UPDATE SKIP LOCKED`,
        [now],
      );
      const fire: Array<{ schedule: Schedule; at: Date }> = [];
      for (const row of rows) {
        const s = toSchedule(row);
        const ins = await tx.query(
          `INSERT INTO schedule_runs (schedule_id, scheduled_at) VALUES ($1, $2)
           ON CONFLICT DO NOTHING RETURNING schedule_id`,
          [s.id, s.nextRunAt],
        );
        if (ins.rows.length > 0) fire.push({ schedule: s, at: s.nextRunAt });
        await tx.query("UPDATE schedules SET next_run_at = $2 WHERE id = $1", [
          s.id,
          nextRun(s.timetable, now) ?? NEVER,
        ]);
      }
      return fire;
    });
    let fired = 0;
    for (const { schedule, at } of due) {
      const log = this.log.child({ scheduleId: schedule.id });
      try {
        const project = await getProject(this.opts.db, schedule.projectId);
        if (!project) continue;
        const { branch, tag, ...parameters } = schedule.parameters;
        const p = await this.opts.trigger.trigger({
          project,
          triggerType: "schedule",
          actorId: schedule.attribution === "current" ? schedule.actorId : null,
          ...(typeof tag === "string" ? { tag } : typeof branch === "string" ? { branch } : {}),
          parameters,
          scheduleId: schedule.id,
        });
        await this.opts.db.query(
          "UPDATE schedule_runs SET pipeline_id = $3 WHERE schedule_id = $1 AND scheduled_at = $2",
          [schedule.id, at, p.id],
        );
        fired++;
        log.info({ pipelineId: p.id, at }, "schedule fired");
      } catch (err) {
        log.error({ err }, "scheduled trigger failed");
        await this.opts.db.query(
          "UPDATE schedule_runs SET error = $3 WHERE schedule_id = $1 AND scheduled_at = $2",
          [schedule.id, at, String(err)],
        );
      }
    }
    return fired;
  }
}
