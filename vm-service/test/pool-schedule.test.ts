import { describe, expect, it } from "vitest";
import { poolTarget, poolWindowSchema } from "../src/service/pool-schedule.js";

describe("scheduled pool windows", () => {
  const pool = {
    preallocated: 1,
    scheduled: [
      { cron: "0 8 * * 1-5", durationMinutes: 600, preallocated: 5 },
      { cron: "0 12 * * 1-5", durationMinutes: 60, preallocated: 8 },
    ],
  };
  const at = (iso: string) => poolTarget(pool, new Date(iso));

  it("uses the pool's own count outside every window", () => {
    expect(at("2026-12-07T07:59:59Z")).toBe(1);
    expect(at("2026-12-07T18:00:00Z")).toBe(1);
    expect(at("2026-12-05T09:00:00Z")).toBe(1); // Saturday
  });

  it("uses an open window's count from its first second, the largest when several are open", () => {
    expect(at("2026-12-07T08:00:00Z")).toBe(5);
    expect(at("2026-12-07T12:30:00Z")).toBe(8);
    expect(at("2026-12-07T13:00:00Z")).toBe(5);
    expect(at("2026-12-07T17:59:59Z")).toBe(5);
  });

  it("lets a window lower the count (a quiet night)", () => {
    const night = {
      preallocated: 4,
      scheduled: [{ cron: "0 22 * * *", durationMinutes: 480, preallocated: 0 }],
    };
    expect(poolTarget(night, new Date("2026-12-07T23:00:00Z"))).toBe(0);
    expect(poolTarget(night, new Date("2026-12-08T05:59:00Z"))).toBe(0);
    expect(poolTarget(night, new Date("2026-12-08T06:00:00Z"))).toBe(4);
  });

  it("refuses a cron expression it cannot read", () => {
    const r = poolWindowSchema.safeParse({
      cron: "every morning",
      durationMinutes: 5,
      preallocated: 1,
    });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.message).toBe("not a valid cron expression");
  });
});
