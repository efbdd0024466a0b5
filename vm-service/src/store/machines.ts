/** vm-service's rows: one per machine, with the lease on it and the credentials to reach it. */
import type { SqlQueryable } from "./sql.js";

export type MachineRowState =
  "provisioning" | "ready" | "leased" | "releasing" | "destroyed" | "failed";

export interface MachineRow {
  id: string;
  provider: string;
  providerId: string | null;
  image: string;
  resourceClass: string;
  state: MachineRowState;
  pooled: boolean;
  taskId: string | null;
  leaseExpiresAt: Date | null;
  address: string | null;
  sshUser: string;
  sshPrivateKey: string;
  hostPublicKey: string;
  dockerCa: string | null;
  dockerClientCert: string | null;
  dockerClientKey: string | null;
  failure: string | null;
  createdAt: Date;
  readyAt: Date | null;
  releasedAt: Date | null;
}

interface Raw {
  id: string;
  provider: string;
  provider_id: string | null;
  image: string;
  resource_class: string;
  state: MachineRowState;
  pooled: boolean;
  task_id: string | null;
  lease_expires_at: Date | string | null;
  address: string | null;
  ssh_user: string;
  ssh_private_key: string;
  host_public_key: string;
  docker_ca: string | null;
  docker_client_cert: string | null;
  docker_client_key: string | null;
  failure: string | null;
  created_at: Date | string;
  ready_at: Date | string | null;
  released_at: Date | string | null;
}

const date = (v: Date | string | null): Date | null => (v == null ? null : new Date(v));

function fromRaw(r: Raw): MachineRow {
  return {
    id: r.id,
    provider: r.provider,
    providerId: r.provider_id,
    image: r.image,
    resourceClass: r.resource_class,
    state: r.state,
    pooled: r.pooled,
    taskId: r.task_id,
    leaseExpiresAt: date(r.lease_expires_at),
    address: r.address,
    sshUser: r.ssh_user,
    sshPrivateKey: r.ssh_private_key,
    hostPublicKey: r.host_public_key,
    dockerCa: r.docker_ca,
    dockerClientCert: r.docker_client_cert,
    dockerClientKey: r.docker_client_key,
    failure: r.failure,
    createdAt: new Date(r.created_at),
    readyAt: date(r.ready_at),
    releasedAt: date(r.released_at),
  };
}

export interface NewMachine {
  id: string;
  provider: string;
  image: string;
  resourceClass: string;
  taskId: string | null;
  pooled: boolean;
  sshUser: string;
  sshPrivateKey: string;
  hostPublicKey: string;
  createdAt: Date;
}

/** Fields a state change may set, besides the state. */
export interface MachinePatch {
  providerId?: string;
  address?: string;
  taskId?: string | null;
  leaseExpiresAt?: Date | null;
  dockerCa?: string;
  dockerClientCert?: string;
  dockerClientKey?: string;
  failure?: string;
  readyAt?: Date;
  releasedAt?: Date;
}

const COLUMNS: Record<keyof MachinePatch, string> = {
  providerId: "provider_id",
  address: "address",
  taskId: "task_id",
  leaseExpiresAt: "lease_expires_at",
  dockerCa: "docker_ca",
  dockerClientCert: "docker_client_cert",
  dockerClientKey: "docker_client_key",
  failure: "failure",
  readyAt: "ready_at",
  releasedAt: "released_at",
};

/** Live states: a machine that exists or is being made. */
export const LIVE_STATES: MachineRowState[] = ["provisioning", "ready", "leased", "releasing"];

export async function insertMachine(db: SqlQueryable, m: NewMachine): Promise<void> {
  await db.query(
    `INSERT INTO vm_machines (id, provider, image, resource_class, state, pooled, task_id,
       ssh_user, ssh_private_key, host_public_key, created_at)
     VALUES ($1, $2, $3, $4, 'provisioning', $5, $6, $7, $8, $9, $10)`,
    [
      m.id,
      m.provider,
      m.image,
      m.resourceClass,
      m.pooled,
      m.taskId,
      m.sshUser,
      m.sshPrivateKey,
      m.hostPublicKey,
      m.createdAt,
    ],
  );
}

/** Moves a machine to `state` (from one of `from`, when given) and sets the patch; false if not. */
export async function updateMachine(
  db: SqlQueryable,
  id: string,
  state: MachineRowState,
  patch: MachinePatch = {},
  from?: MachineRowState[],
): Promise<boolean> {
  const sets = ["state = $2"];
  const params: unknown[] = [id, state];
  for (const [key, value] of Object.entries(patch) as [keyof MachinePatch, unknown][]) {
    if (value === undefined) continue;
    params.push(value);
    sets.push(`${COLUMNS[key]} = $${params.length}`);
  }
  let where = "id = $1";
  if (from) {
    params.push(from);
    where += ` AND state = ANY($${params.length}::text[])`;
  }
  const r = await db.query(`UPDATE vm_machines SET ${sets.join(", ")} WHERE ${where}`, params);
  return r.rowCount > 0;
}

export async function getMachine(db: SqlQueryable, id: string): Promise<MachineRow | null> {
  const r = await db.query<Raw>("SELECT * FROM vm_machines WHERE id = $1", [id]);
  return r.rows[0] ? fromRaw(r.rows[0]) : null;
}

/** The live machine leased (or being made) for a task, if any. */
export async function machineOfTask(db: SqlQueryable, taskId: string): Promise<MachineRow | null> {
  const r = await db.query<Raw>(
    `SELECT * FROM vm_machines WHERE task_id = $1 AND state IN ('provisioning', 'ready', 'leased')`,
    [taskId],
  );
  return r.rows[0] ? fromRaw(r.rows[0]) : null;
}

export async function listMachines(
  db: SqlQueryable,
  states: MachineRowState[] = LIVE_STATES,
): Promise<MachineRow[]> {
  const r = await db.query<Raw>(
    "SELECT * FROM vm_machines WHERE state = ANY($1::text[]) ORDER BY created_at",
    [states],
  );
  return r.rows.map(fromRaw);
}

export async function machineByProviderId(
  db: SqlQueryable,
  provider: string,
  providerId: string,
): Promise<MachineRow | null> {
  const r = await db.query<Raw>(
    "SELECT * FROM vm_machines WHERE provider = $1 AND provider_id = $2",
    [provider, providerId],
  );
  return r.rows[0] ? fromRaw(r.rows[0]) : null;
}

/**
 * Takes the oldest ready pooled machine of this image and resource class for a task, if there is
 * one; concurrent claims never take the same machine.
 */
export async function claimPooled(
  db: SqlQueryable,
  req: { taskId: string; image: string; resourceClass: string },
  leaseExpiresAt: Date,
): Promise<MachineRow | null> {
  const r = await db.query<Raw>(
    `UPDATE vm_machines SET state = 'leased', task_id = $1, lease_expires_at = $4
      WHERE id = (SELECT id FROM vm_machines
                   WHERE state = 'ready' AND pooled AND image = $2 AND resource_class = $3
                   ORDER BY created_at LIMIT 1 FOR UPDATE SKIP LOCKED)
      RETURNING *`,
    [req.taskId, req.image, req.resourceClass, leaseExpiresAt],
  );
  return r.rows[0] ? fromRaw(r.rows[0]) : null;
}
