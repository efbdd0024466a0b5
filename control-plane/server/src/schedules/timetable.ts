/** CircleCI scheduled-pipeline timetables: when they fire, in UTC. */
import { z } from "zod";
import type { Timetable } from "../model/records.js";

export const DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"] as const;
export const MONTHS = [
  "JAN",
  "FEB",
  "MAR",
  "APR",
  "MAY",
  "JUN",
  "JUL",
  "AUG",
  "SEP",
  "OCT",
  "NOV",
  "DEC",
] as const;

export const timetableSchema = z
  .object({
    "per-hour": z.number().int().min(1).max(60),
    "hours-of-day": z.array(z.number().int().min(0).max(23)).min(1),
    "days-of-week": z.array(z.enum(DAYS)).min(1).optional(),
    "days-of-month": z.array(z.number().int().min(1).max(31)).min(1).optional(),
    months: z.array(z.enum(MONTHS)).min(1).optional(),
  })
  .strict()
  .refine((t) => t["days-of-week"] !== undefined || t["days-of-month"] !== undefined, {
    message: "one of days-of-week or days-of-month is required",
    path: ["days-of-week"],
  });

/** Minutes past the hour: `per-hour` runs spread evenly from minute 0. */
export function minutesOf(perHour: number): number[] {
  return Array.from({ length: perHour }, (_, i) => Math.floor((i * 60) / perHour));
}

function dayMatches(t: Timetable, d: Date): boolean {
  const month = MONTHS[d.getUTCMonth()] ?? "JAN";
  if (t.months && !t.months.includes(month)) return false;
  const dow = t["days-of-week"]?.includes(DAYS[d.getUTCDay()] ?? "SUN") ?? false;
  const dom = t["days-of-month"]?.includes(d.getUTCDate()) ?? false;
  return dow || dom;
}

/** The first time strictly after `after` that the timetable fires; null if none in 5 years. */
export function nextRun(t: Timetable, after: Date): Date | null {
  const minutes = minutesOf(t["per-hour"]);
  const hours = [...new Set(t["hours-of-day"])].sort((a, b) => a - b);
  const day = new Date(Date.UTC(after.getUTCFullYear(), after.getUTCMonth(), after.getUTCDate()));
  for (let i = 0; i < 366 * 5; i++) {
    if (dayMatches(t, day)) {
      for (const h of hours) {
        for (const m of minutes) {
          const at = new Date(day.getTime() + h * 3_600_000 + m * 60_000);
          if (at.getTime() > after.getTime()) return at;
        }
      }
    }
    day.setUTCDate(day.getUTCDate() + 1);
  }
  return null;
}
