import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  AUDIT_CSV_COLUMNS,
  actorOf,
  jobEntity,
  orgScope,
  projectEntity,
  AuditError,
  auditCsv,
  queryAudit,
  recordAudit,
  streamAudit,
  type AuditEvent,
  type AuditEventInput,
} from "@drover/control-plane";
import type { Database, Queryable } from "@drover/control-plane/db";
import { testDatabases } from "../helpers/databases.js";
import { parseCsv } from "./rfc4180.js";

const dbs = await testDatabases();

function event(actorId: string, over: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    action: "context.create",
    actor: { id: actorId, type: "user", name: "Ada" },
    target: { id: randomUUID(), type: "context", name: "deploy" },
    scope: { id: "org-1", type: "organization", name: "acme" },
    payload: { context: { name: "deploy" } },
    metadata: { ip: "127.0.0.1" },
    requestId: randomUUID(),
    ...over,
  };
}

describe.each(dbs)("audit log on $name", (target) => {
  let db: Database;
  beforeAll(async () => {
    db = await target.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("records inside the caller's transaction, and nothing when it rolls back", async () => {
    const actor = randomUUID();
    const recorded = await db.transaction((tx) => recordAudit(tx, event(actor)));
    expect(recorded.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(recorded.version).toBe(1);
    expect(recorded.occurred_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{1,9}Z$/);
    expect(Date.parse(recorded.occurred_at)).toBeGreaterThan(Date.now() - 60_000);

    await expect(
      db.transaction(async (tx) => {
        await recordAudit(tx, event(actor, { action: "context.delete" }));
        throw new Error("the action failed");
      }),
    ).rejects.toThrow("the action failed");

    const page = await queryAudit(db, { actorId: actor });
    expect(page.items.map((e) => e.action)).toEqual(["context.create"]);
    expect(page.items[0]).toEqual(recorded);
  });

  it("builds actors, targets and organization scopes for callers", async () => {
    const orgId = randomUUID();
    await db.query("INSERT INTO organizations (id, vcs, name) VALUES ($1, 'gh', $2)", [
      orgId,
      `org-${orgId.slice(0, 8)}`,
    ]);
    const e = await recordAudit(db, {
      action: "workflow.job.start",
      actor: actorOf(null),
      target: jobEntity({ id: "j1", name: "build" }),
      scope: await orgScope(db, orgId),
      payload: { project: projectEntity({ id: "p1", slug: "gh/acme/app" }) },
    });
    expect(e.actor).toEqual({ id: "system", type: "system", name: "Drover" });
    expect(e.scope).toEqual({
      id: orgId,
      type: "organization",
      name: `gh/org-${orgId.slice(0, 8)}`,
    });
    expect(actorOf({ userId: "u1", login: "ada" })).toEqual({
      id: "u1",
      type: "user",
      name: "ada",
    });
  });

  it("is append-only: UPDATE, DELETE and TRUNCATE are refused", async () => {
    const actor = randomUUID();
    const e = await recordAudit(db, event(actor));
    await expect(
      db.query("UPDATE audit_events SET action = 'x' WHERE id = $1", [e.id]),
    ).rejects.toThrow(/append-only/);
    await expect(db.query("DELETE FROM audit_events WHERE id = $1", [e.id])).rejects.toThrow(
      /append-only/,
    );
    await expect(db.query("TRUNCATE audit_events")).rejects.toThrow(/append-only/);
    expect((await queryAudit(db, { actorId: actor })).items).toHaveLength(1);
  });

  it("refuses unknown actions and anything shaped like a secret", async () => {
    await expect(
      recordAudit(db, event("a", { action: "nope" as AuditEventInput["action"] })),
    ).rejects.toBeInstanceOf(AuditError);
    await expect(
      recordAudit(db, event("a", { payload: { env: { value: "hunter2" } } })),
    ).rejects.toThrow(/never carry secret values/);
  });

  it("filters by action, actor and time range, and pages by keyset without gaps", async () => {
    const actor = randomUUID();
    const mid = await db.transaction(async (tx) => {
      for (let i = 0; i < 12; i++) await recordAudit(tx, event(actor, { payload: { i } }));
      return new Date(Date.now());
    });
    await new Promise((r) => setTimeout(r, 20));
    const split = new Date();
    await new Promise((r) => setTimeout(r, 20));
    for (let i = 12; i < 25; i++) {
      await recordAudit(
        db,
        event(actor, {
          action: i % 2 ? "context.env_var.store" : "context.create",
          payload: { i },
        }),
      );
    }
    expect(mid).toBeInstanceOf(Date);

    const seen: number[] = [];
    let token: string | undefined;
    let pages = 0;
    do {
      const page = await queryAudit(db, {
        actorId: actor,
        limit: 10,
        pageToken: token,
        order: "asc",
      });
      seen.push(...page.items.map((e) => Number(e.payload.i)));
      token = page.nextPageToken ?? undefined;
      pages++;
    } while (token);
    expect(pages).toBe(3);
    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i));

    const newest = await queryAudit(db, { actorId: actor, limit: 3 });
    expect(newest.items.map((e) => e.payload.i)).toEqual([24, 23, 22]);

    const stores = await queryAudit(db, {
      actorId: actor,
      actions: ["context.env_var.store"],
      limit: 100,
    });
    expect(stores.items.map((e) => e.payload.i)).toEqual([23, 21, 19, 17, 15, 13]);

    const late = await queryAudit(db, { actorId: actor, start: split, limit: 100 });
    expect(late.items).toHaveLength(13);
    const early = await queryAudit(db, { actorId: actor, end: split, limit: 100 });
    expect(early.items).toHaveLength(12);

    await expect(queryAudit(db, { pageToken: "garbage" })).rejects.toMatchObject({
      code: "DROVER_ERR_AUDIT_PAGE_TOKEN",
    });
    // A forged token past PostgreSQL's bigint is the caller's error, not a 500.
    for (const s of ["9223372036854775808", "9999999999999999999"]) {
      const forged = Buffer.from(JSON.stringify({ s, o: "desc" })).toString("base64url");
      await expect(queryAudit(db, { pageToken: forged })).rejects.toMatchObject({
        code: "DROVER_ERR_AUDIT_PAGE_TOKEN",
      });
    }
    const largest = Buffer.from(JSON.stringify({ s: "9223372036854775807", o: "desc" })).toString(
      "base64url",
    );
    expect((await queryAudit(db, { actorId: actor, pageToken: largest })).items).toHaveLength(25);
  });

  it("exports RFC 4180 CSV that parses back into the same records", async () => {
    const actor = randomUUID();
    const tricky = [
      'comma, "quotes" and\nnewlines\r\n',
      "ünïcødé 🔑",
      "",
      "=SUM(A1:A2)",
      "trailing space ",
    ];
    for (const [i, s] of tricky.entries()) {
      await recordAudit(
        db,
        event(actor, {
          target: { id: `t${i}`, type: "context", name: s },
          payload: { note: s, nested: { list: [s, i], flag: true } },
          metadata: { reason: s },
          success: i % 2 === 0,
          requestId: i === 2 ? null : `req-${i}`,
        }),
      );
    }
    const expected = (await queryAudit(db, { actorId: actor, order: "asc", limit: 100 })).items;

    let text = "";
    for await (const chunk of auditCsv(streamAudit(db, { actorId: actor }, 2), 50)) text += chunk;
    const [header, ...rows] = parseCsv(text);
    expect(header).toEqual([...AUDIT_CSV_COLUMNS]);
    const back: AuditEvent[] = rows.map((r) => {
      const o = Object.fromEntries(header!.map((h, j) => [h, r[j]!]));
      return {
        id: o.id!,
        version: Number(o.version) as 1,
        action: o.action!,
        occurred_at: o.occurred_at!,
        actor: JSON.parse(o.actor!),
        target: JSON.parse(o.target!),
        scope: JSON.parse(o.scope!),
        payload: JSON.parse(o.payload!),
        metadata: JSON.parse(o.metadata!),
        success: JSON.parse(o.success!),
        request: JSON.parse(o.request!),
      };
    });
    expect(back).toEqual(expected);
    expect(back).toHaveLength(tricky.length);
  });

  it("streams many rows in bounded batches, pulling a batch only when the consumer needs it", async () => {
    const actor = randomUUID();
    await db.transaction(async (tx) => {
      for (let i = 0; i < 120; i++) await recordAudit(tx, event(actor, { payload: { i } }));
    });
    let queries = 0;
    let largest = 0;
    const counting: Queryable = {
      query: async <T>(sql: string, params?: unknown[]) => {
        queries++;
        const r = await db.query<T>(sql, params);
        largest = Math.max(largest, r.rows.length);
        return r;
      },
    };
    const seen: number[] = [];
    for await (const e of streamAudit(counting, { actorId: actor }, 17))
      seen.push(Number(e.payload.i));
    expect(seen).toEqual(Array.from({ length: 120 }, (_, i) => i));
    expect(largest).toBeLessThanOrEqual(17);
    // 7 full batches of 17 and one of 1: eight queries, the last one short.
    expect(queries).toBe(8);

    queries = 0;
    for await (const e of streamAudit(counting, { actorId: actor }, 17)) {
      if (Number(e.payload.i) === 3) break;
    }
    expect(queries).toBe(1);
  });
});
