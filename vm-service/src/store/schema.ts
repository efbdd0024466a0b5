/** vm-service's tables, versioned in a table of their own so they share a database cleanly. */
import type { SqlDatabase } from "./sql.js";

const MIGRATIONS: { version: number; sql: string[] }[] = [
  {
    version: 1,
    sql: [
      `CREATE TABLE IF NOT EXISTS vm_machines (
         id text PRIMARY KEY,
         provider text NOT NULL,
         provider_id text,
         image text NOT NULL,
         resource_class text NOT NULL,
         -- provisioning | ready | leased | releasing | destroyed | failed
         state text NOT NULL,
         pooled boolean NOT NULL DEFAULT false,
         task_id text,
         lease_expires_at timestamptz,
         address text,
         ssh_user text NOT NULL,
         ssh_private_key text NOT NULL,
         host_public_key text NOT NULL,
         docker_ca text,
         docker_client_cert text,
         docker_client_key text,
         failure text,
         created_at timestamptz NOT NULL DEFAULT now(),
         ready_at timestamptz,
         released_at timestamptz)`,
      `CREATE UNIQUE INDEX IF NOT EXISTS vm_machines_task ON vm_machines (task_id)
         WHERE task_id IS NOT NULL AND state IN ('provisioning', 'ready', 'leased')`,
      `CREATE INDEX IF NOT EXISTS vm_machines_state ON vm_machines (state)`,
    ],
  },
];

// Any constant works; it only has to be the same for every instance.
const LOCK = 720_431_338;

/** Creates or updates vm-service's tables; concurrent instances wait for each other. */
export async function ensureVmSchema(db: SqlDatabase): Promise<void> {
  await db.transaction(async (tx) => {
    await tx.query("SELECT pg_advisory_xact_lock($1)", [LOCK]);
    await tx.query(
      `CREATE TABLE IF NOT EXISTS vm_schema_migrations (
         version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())`,
    );
    const done = new Set(
      (await tx.query<{ version: number }>("SELECT version FROM vm_schema_migrations")).rows.map(
        (r) => r.version,
      ),
    );
    for (const m of MIGRATIONS) {
      if (done.has(m.version)) continue;
      for (const statement of m.sql) await tx.query(statement);
      await tx.query("INSERT INTO vm_schema_migrations (version) VALUES ($1)", [m.version]);
    }
  });
}
