/**
 * Scheduled pool windows, like CircleCI's scheduled preboot: in a window (a cron start and a
 * length) a pool holds that window's count instead of its own `preallocated`; the largest count of
 * the windows open at the moment wins.
 */
import { CronExpressionParser } from "cron-parser";
import { z } from "zod";

export const poolWindowSchema = z.object({
  /** When the window opens (5-field cron, UTC), e.g. `0 8 * * 1-5`. */
  cron: z.string().refine(
    (c) => {
      try {
        CronExpressionParser.parse(c, { tz: "UTC" });
        return true;
      } catch {
        return false;
      }
    },
    { message: "not a valid cron expression" },
  ),
  /** How long it stays open. */
  durationMinutes: z.number().int().positive(),
  /** Machines the pool holds while it is open. */
  preallocated: z.number().int().min(0).max(100),
});
export type PoolWindow = z.infer<typeof poolWindowSchema>;

/** The count a pool should hold at `now`: its own, or the largest of the windows open then. */
export function poolTarget(
  pool: { preallocated: number; scheduled: PoolWindow[] },
  now: Date,
): number {
  let target = pool.preallocated;
  let open = false;
  for (const w of pool.scheduled) {
    // The latest opening at or before now (a window opening exactly now is open).
    const expr = CronExpressionParser.parse(w.cron, {
      tz: "UTC",
      currentDate: new Date(now.getTime() + 1000),
    });
    const opened = expr.prev().toDate();
    if (now.getTime() < opened.getTime() + w.durationMinutes * 60_000) {
      target = open ? Math.max(target, w.preallocated) : w.preallocated;
      open = true;
    }
  }
  return target;
}
