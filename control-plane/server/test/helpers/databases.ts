/**
 * Both database implementations for tests: PGlite in memory and the machine's PostgreSQL
 * (`DROVER_TEST_DATABASE_URL`, default postgres://postgres@127.0.0.1:5432/test), each test database
 * in a fresh schema so tests never see each other's rows.
 */
import { randomUUID } from "node:crypto";
import pg from "pg";
import { openDatabase, type Database } from "@drover/control-plane/db";

export const POSTGRES_URL =
  process.env.DROVER_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export interface TestDatabase {
  name: "pglite" | "postgres";
  open(): Promise<Database>;
}

async function postgresReachable(): Promise<boolean> {
  const client = new pg.Client({ connectionString: POSTGRES_URL, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.end();
    return true;
  } catch {
    return false;
  }
}

/** PGlite always; PostgreSQL when it answers (in CI it must: a missing server fails the run). */
export async function testDatabases(): Promise<TestDatabase[]> {
  const list: TestDatabase[] = [{ name: "pglite", open: () => openDatabase({}) }];
  if (await postgresReachable()) {
    list.push({
      name: "postgres",
      open: () =>
        openDatabase({ url: POSTGRES_URL, schema: `t_${randomUUID().replaceAll("-", "")}` }),
    });
  } else if (process.env.CI === "true") {
    throw new Error(
      `PostgreSQL is not reachable at ${POSTGRES_URL} (CI=true: failing, not skipping)`,
    );
  }
  return list;
}
