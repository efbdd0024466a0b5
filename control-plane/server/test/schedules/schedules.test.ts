import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  InstantScheduler,
  minutesOf,
  nextRun,
  ScheduleRunner,
  type ControlPlane,
  type Timetable,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import type { DroverClient } from "@drover/cli";
import { testDatabases } from "../helpers/databases.js";
import { logger } from "../helpers/harness.js";
import { CONFIG, http, makeRepo, startTestServer } from "../helpers/server.js";

describe("timetables", () => {
  const t = (x: Partial<Timetable>): Timetable => ({ "per-hour": 1, "hours-of-day": [0], ...x });
  it("spreads per-hour runs evenly", () => {
    expect(minutesOf(1)).toEqual([0]);
    expect(minutesOf(4)).toEqual([0, 15, 30, 45]);
    expect(minutesOf(60)).toHaveLength(60);
  });
  it("finds the next run by hours, weekdays, month days and months (UTC)", () => {
    const mon = t({ "per-hour": 2, "hours-of-day": [3, 15], "days-of-week": ["MON"] });
    // 2026-01-05 is a Monday.
    expect(nextRun(mon, new Date("2026-01-05T02:59:00Z"))?.toISOString()).toBe(
      "2026-01-05T03:00:00.000Z",
    );
    expect(nextRun(mon, new Date("2026-01-05T03:00:00Z"))?.toISOString()).toBe(
      "2026-01-05T03:30:00.000Z",
    );
    expect(nextRun(mon, new Date("2026-01-05T15:30:00Z"))?.toISOString()).toBe(
      "2026-01-12T03:00:00.000Z",
    );
    const dom = t({ "hours-of-day": [12], "days-of-month": [31], months: ["FEB", "MAR"] });
    expect(nextRun(dom, new Date("2026-01-31T13:00:00Z"))?.toISOString()).toBe(
      "2026-03-31T12:00:00.000Z",
    );
    expect(
      nextRun(t({ "days-of-month": [30], months: ["FEB"] }), new Date("2026-01-01T00:00:00Z")),
    ).toBeNull();
  });
});

const dbs = await testDatabases();

describe.each(dbs)("schedule runner ($name)", ({ open }) => {
  let db: Database;
  let cp: ControlPlane;
  let admin: DroverClient;
  let clock = new Date("2026-01-05T02:50:00Z");
  const repo = makeRepo({ ".circleci/config.yml": CONFIG });
  const slug = `gh/acme/${randomUUID().slice(0, 8)}`;
  beforeAll(async () => {
    db = await open();
    ({ cp, admin } = await startTestServer(db, new InstantScheduler(), { now: () => clock }));
    await admin.addProject({ slug, repository_url: repo.url });
  });
  afterAll(async () => {
    await cp.close();
    await db.close();
  });

  it("fires each occurrence on time, once, even with several runners", async () => {
    const created = await http(cp.url, "POST", `/api/v2/project/${slug}/schedule`, {
      token: cp.bootstrapToken ?? "",
      body: {
        name: "twice an hour",
        "attribution-actor": "system",
        parameters: { branch: "main" },
        timetable: { "per-hour": 2, "hours-of-day": [3], "days-of-week": ["MON"] },
      },
    });
    expect(created.status).toBe(201);
    expect(created.body["next-run-at"]).toBe("2026-01-05T03:00:00.000Z");
    const pipelines = async () => (await admin.listPipelines(slug)).items;

    clock = new Date("2026-01-05T02:59:59Z");
    expect(await cp.schedules.tick()).toBe(0);
    clock = new Date("2026-01-05T03:00:01Z");
    const others = Array.from(
      { length: 3 },
      () => new ScheduleRunner({ db, trigger: cp.trigger, logger, now: () => clock }),
    );
    const fired = await Promise.all([cp.schedules.tick(), ...others.map((r) => r.runDue())]);
    expect(fired.reduce((a, b) => a + b, 0)).toBe(1);
    const [p] = await pipelines();
    expect(p).toMatchObject({
      trigger: { type: "schedule" },
      vcs: { branch: "main" },
      state: "created",
    });
    expect(await cp.schedules.tick()).toBe(0);

    clock = new Date("2026-01-05T03:31:00Z");
    expect(await cp.schedules.tick()).toBe(1);
    // Missed occurrences are not replayed: after a long gap the latest due one fires once.
    clock = new Date("2026-01-19T04:00:00Z");
    expect(await cp.schedules.tick()).toBe(1);
    expect(await cp.schedules.tick()).toBe(0);
    expect(await pipelines()).toHaveLength(3);
    const runs = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM schedule_runs WHERE schedule_id = $1 AND pipeline_id IS NOT NULL",
      [created.body.id],
    );
    expect(runs.rows[0]?.n).toBe(3);
    const next = await http(cp.url, "GET", `/api/v2/schedule/${created.body.id}`, {
      token: cp.bootstrapToken ?? "",
    });
    expect(next.body["next-run-at"]).toBe("2026-01-26T03:00:00.000Z");
  });
});
