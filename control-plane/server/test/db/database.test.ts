import { afterAll, describe, expect, it } from "vitest";
import { migrate, splitStatements, type Database } from "@drover/control-plane/db";
import { testDatabases } from "../helpers/databases.js";

const dbs = await testDatabases();

describe.each(dbs)("database ($name)", ({ open }) => {
  const opened: Database[] = [];
  const fresh = async () => {
    const db = await open();
    opened.push(db);
    return db;
  };
  afterAll(async () => {
    await Promise.all(opened.map((db) => db.close()));
  });

  it("runs migrations once and records them", async () => {
    const db = await fresh();
    const versions = (await db.query<{ version: number }>("SELECT version FROM schema_migrations"))
      .rows;
    expect(versions.length).toBeGreaterThan(0);
    expect(await migrate(db)).toEqual([]);
  });

  it("binds positional parameters and returns typed rows", async () => {
    const db = await fresh();
    await db.query("CREATE TABLE kv (k text PRIMARY KEY, v integer NOT NULL)");
    const ins = await db.query("INSERT INTO kv (k, v) VALUES ($1, $2), ($3, $4)", ["a", 1, "b", 2]);
    expect(ins.rowCount).toBe(2);
    const { rows } = await db.query<{ k: string; v: number }>(
      "SELECT k, v FROM kv WHERE v > $1",
      [1],
    );
    expect(rows).toEqual([{ k: "b", v: 2 }]);
  });

  it("commits a transaction that resolves and rolls back one that throws", async () => {
    const db = await fresh();
    await db.query("CREATE TABLE t (n integer)");
    await db.transaction(async (tx) => {
      await tx.query("INSERT INTO t VALUES (1)");
    });
    await expect(
      db.transaction(async (tx) => {
        await tx.query("INSERT INTO t VALUES (2)");
        throw new Error("boom");
      }),
    ).rejects.toThrow("boom");
    const { rows } = await db.query<{ n: number }>("SELECT n FROM t ORDER BY n");
    expect(rows).toEqual([{ n: 1 }]);
  });

  it("returns bigint counts as numbers", async () => {
    const db = await fresh();
    const { rows } = await db.query<{ c: number }>("SELECT count(*) AS c FROM schema_migrations");
    expect(typeof rows[0]?.c).toBe("number");
  });

  it("fails a broken migration with its name and applies nothing of it", async () => {
    const db = await fresh();
    await expect(
      migrate(db, [{ version: 999, name: "broken", sql: "CREATE TABLE ok1 (a int);\nNOT SQL;" }]),
    ).rejects.toThrow(/999_broken/);
    const { rows } = await db.query(
      "SELECT 1 FROM information_schema.tables WHERE table_name = 'ok1'",
    );
    expect(rows).toEqual([]);
  });
});

describe("splitStatements", () => {
  it("keeps dollar-quoted bodies whole and drops comments", () => {
    const sql =
      "-- c\nCREATE TABLE a (x int);\nCREATE FUNCTION f() RETURNS int AS $$\nSELECT 1;\n$$ LANGUAGE sql;\n";
    expect(splitStatements(sql)).toEqual([
      "CREATE TABLE a (x int);",
      "CREATE FUNCTION f() RETURNS int AS $$\nSELECT 1;\n$$ LANGUAGE sql;",
    ]);
  });
});
