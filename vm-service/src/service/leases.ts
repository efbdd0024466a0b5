/**
 * Leases: one machine per task, made fresh, handed over ready (SSH and Docker TLS answering), and
 * destroyed when released or when its lease runs out. The database is the record: a restart of
 * vm-service loses no lease, and the reaper destroys whatever the record does not account for.
 *
 * - `lease` is idempotent on the task id: a second call for a task with a live machine returns it
 *   (waiting for it if another call is still making it).
 * - `release` is idempotent; releasing an unknown id is a not-found error.
 * - Calls may run concurrently across instances sharing the database: state changes are
 *   conditional updates, so one instance wins each transition.
 */
import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { z } from "zod";
import { createDockerTlsSet } from "../credentials/docker-tls.js";
import { generateSshKeyPair, sshFingerprint } from "../credentials/ssh.js";
import { VmError } from "../errors.js";
import { provisionMachine, type MachineAccess } from "../machine/provision.js";
import type { MachineProvider } from "../provider/types.js";
import { poolTarget, poolWindowSchema } from "./pool-schedule.js";
import {
  claimPooled,
  getMachine,
  insertMachine,
  listMachines,
  machineByProviderId,
  machineOfTask,
  updateMachine,
  type MachineRow,
} from "../store/machines.js";
import type { SqlDatabase } from "../store/sql.js";

export const leaseConfigSchema = z.object({
  /** Names this installation's machines (a tag), so two installations never reap each other's. */
  installId: z.string().min(1).default("drover"),
  /** Lease length when the caller gives none, seconds. */
  defaultLeaseSeconds: z.number().int().positive().default(3600),
  /** Longest lease a caller may ask for or renew to, seconds (CircleCI's job limit: 5 hours). */
  maxLeaseSeconds: z
    .number()
    .int()
    .positive()
    .default(5 * 3600),
  /** A machine not ready (SSH and Docker answering) by then is destroyed and counted as failed. */
  startTimeoutMs: z
    .number()
    .int()
    .positive()
    .default(6 * 60_000),
  /** The reaper spares an unknown tagged machine this young (another instance may be making it). */
  reaperGraceMs: z
    .number()
    .int()
    .positive()
    .default(10 * 60_000),
  sshUser: z.string().min(1).default("circleci"),
  /**
   * Warm pools: machines made ahead per image and resource class. A pooled machine serves exactly
   * one job and is then destroyed and replaced, like CircleCI's `preallocated` machines.
   */
  pools: z
    .array(
      z.object({
        image: z.string().min(1),
        resourceClass: z.string().min(1),
        preallocated: z.number().int().min(0).max(100),
        /** Windows in which the pool holds another count (CircleCI's scheduled preboot). */
        scheduled: z.array(poolWindowSchema).default([]),
      }),
    )
    .default([]),
  /** Quiet time after the last pool claim before the pools are refilled, ms. */
  poolRefillDelayMs: z.number().int().min(0).default(1000),
  /** Pooled machines made at once while refilling. */
  poolFillConcurrency: z.number().int().positive().default(4),
});
export type LeaseConfig = z.infer<typeof leaseConfigSchema>;

export interface LeaseRequest {
  taskId: string;
  image: string;
  resourceClass: string;
  leaseSeconds?: number;
}

/** What a job needs to reach its machine. Secret: never logged, sent only to the lease's caller. */
export interface MachineLease {
  id: string;
  /** The provider that made it (`local`, `ec2`, `gce`) and its id there. */
  provider: string;
  providerId: string;
  taskId: string;
  image: string;
  resourceClass: string;
  host: string;
  sshPort: number;
  dockerPort: number;
  sshUser: string;
  sshPrivateKey: string;
  hostPublicKey: string;
  hostKeyFingerprint: string;
  /** Names the Docker server certificate holds besides `host` (see `REMOTE_DOCKER_NAME`). */
  dockerNames: string[];
  docker: { caCert: string; clientCert: string; clientKey: string };
  expiresAt: string;
}

/**
 * A name every machine's Docker server certificate also holds, so a job can reach the engine by
 * a network alias (a `local` machine joined to a job's own network) as well as by its address.
 */
export const REMOTE_DOCKER_NAME = "remote-docker";

/** A machine as operators see it: no credentials. */
export interface MachineSummary {
  id: string;
  provider: string;
  providerId: string | null;
  image: string;
  resourceClass: string;
  state: MachineRow["state"];
  taskId: string | null;
  address: string | null;
  leaseExpiresAt: string | null;
  createdAt: string;
  failure: string | null;
}

export const MANAGED_BY = "drover-vm-service";

/** How to reach a leased machine over SSH and Docker, as `sshConnect`/`sshExec` take it. */
export function leaseAccess(lease: MachineLease): MachineAccess {
  return {
    host: lease.host,
    sshPort: lease.sshPort,
    dockerPort: lease.dockerPort,
    sshUser: lease.sshUser,
    privateKey: lease.sshPrivateKey,
    hostPublicKey: lease.hostPublicKey,
  };
}

export function summarize(m: MachineRow): MachineSummary {
  return {
    id: m.id,
    provider: m.provider,
    providerId: m.providerId,
    image: m.image,
    resourceClass: m.resourceClass,
    state: m.state,
    taskId: m.taskId,
    address: m.address,
    leaseExpiresAt: m.leaseExpiresAt?.toISOString() ?? null,
    createdAt: m.createdAt.toISOString(),
    failure: m.failure,
  };
}

export interface LeaseServiceDeps {
  db: SqlDatabase;
  provider: MachineProvider;
  logger: Logger;
  config: z.input<typeof leaseConfigSchema>;
  now?: () => Date;
}

export class LeaseService {
  readonly config: LeaseConfig;
  private readonly db: SqlDatabase;
  private readonly provider: MachineProvider;
  private readonly log: Logger;
  private readonly now: () => Date;
  /** Leases being made by this process, by task id. */
  private readonly making = new Map<string, Promise<MachineLease>>();

  constructor(deps: LeaseServiceDeps) {
    this.config = leaseConfigSchema.parse(deps.config);
    this.db = deps.db;
    this.provider = deps.provider;
    this.log = deps.logger.child({ unit: "leases" });
    this.now = deps.now ?? (() => new Date());
  }

  private leaseSeconds(asked: number | undefined): number {
    const s = asked ?? this.config.defaultLeaseSeconds;
    if (!Number.isInteger(s) || s <= 0 || s > this.config.maxLeaseSeconds) {
      throw new VmError(
        "DROVER_ERR_VM_INVALID",
        `leaseSeconds must be an integer from 1 to ${this.config.maxLeaseSeconds}`,
      );
    }
    return s;
  }

  /** A ready machine for the task: its own, made now (or the one already made for it). */
  async lease(req: LeaseRequest): Promise<MachineLease> {
    const seconds = this.leaseSeconds(req.leaseSeconds);
    const inFlight = this.making.get(req.taskId);
    if (inFlight) return inFlight;
    // The common case in one statement: a warm machine. A task that has a machine already
    // cannot take another (the unique index on live machines' task ids refuses it).
    let pooled: MachineRow | null = null;
    try {
      pooled = await claimPooled(this.db, req, this.leaseUntil(seconds));
    } catch (err) {
      if ((err as { code?: string }).code !== "23505") throw err;
    }
    if (pooled) {
      this.log.info({ vmId: pooled.id, taskId: req.taskId }, "machine leased from the warm pool");
      this.refillSoon();
      return this.present(pooled);
    }
    const existing = await machineOfTask(this.db, req.taskId);
    if (existing?.state === "leased") return this.present(existing);
    if (existing) return this.waitLeased(existing.id);
    const made = this.make(req, seconds)
      .then((row) => (row ? this.present(row) : this.waitLeased(req.taskId, true)))
      .finally(() => this.making.delete(req.taskId));
    this.making.set(req.taskId, made);
    return made;
  }

  private leaseUntil(seconds: number): Date {
    return new Date(this.now().getTime() + seconds * 1000);
  }

  private filling: Promise<number> | null = null;
  private refillTimer: NodeJS.Timeout | null = null;
  private stopped = false;

  /**
   * Refills the pools once claims pause for `poolRefillDelayMs`: a burst of leases is answered
   * from the pool first, and the machines that replace it are made together afterwards.
   */
  private refillSoon(): void {
    if (this.refillTimer) clearTimeout(this.refillTimer);
    this.refillTimer = setTimeout(() => {
      this.refillTimer = null;
      this.fillPools().catch((err: unknown) => this.log.error({ err }, "pool refill failed"));
    }, this.config.poolRefillDelayMs);
    this.refillTimer.unref();
  }

  /** Stops refilling the pools and waits for a refill under way (machines in use stay). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.refillTimer) clearTimeout(this.refillTimer);
    this.refillTimer = null;
    await this.filling?.catch(() => undefined);
  }

  /** Makes pooled machines until every pool holds its `preallocated` count (made or starting). */
  fillPools(): Promise<number> {
    if (this.stopped) return Promise.resolve(0);
    this.filling ??= this.fillPoolsOnce().finally(() => {
      this.filling = null;
    });
    return this.filling;
  }

  private async fillPoolsOnce(): Promise<number> {
    const live = await listMachines(this.db, ["provisioning", "ready"]);
    const wanted: LeaseRequest[] = [];
    const now = this.now();
    for (const pool of this.config.pools) {
      const mine = live.filter(
        (m) => m.pooled && m.image === pool.image && m.resourceClass === pool.resourceClass,
      );
      const target = poolTarget(pool, now);
      for (let i = mine.length; i < target; i++) {
        wanted.push({ taskId: "", image: pool.image, resourceClass: pool.resourceClass });
      }
      // A window closed: the surplus ready machines go (newest first; none that a lease took).
      const surplus = mine
        .filter((m) => m.state === "ready")
        .sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime())
        .slice(0, Math.max(0, mine.length - target));
      for (const m of surplus) await this.retirePooled(m);
    }
    // A few at a time: a refill must not starve the leases it serves, nor flood the provider's API.
    const queue = [...wanted];
    const worker = async (): Promise<void> => {
      for (let next = queue.shift(); next; next = queue.shift()) {
        await this.make(next, 0).catch((err: unknown) =>
          this.log.warn({ err }, "pooled machine failed to start"),
        );
      }
    };
    await Promise.all(Array.from({ length: this.config.poolFillConcurrency }, worker));
    return wanted.length;
  }

  /** Destroys a ready pooled machine, unless a lease took it meanwhile. */
  private async retirePooled(m: MachineRow): Promise<void> {
    const taken = await updateMachine(this.db, m.id, "releasing", {}, ["ready"]);
    if (!taken) return;
    if (m.providerId) await this.provider.destroy([m.providerId]);
    await updateMachine(this.db, m.id, "destroyed", { releasedAt: this.now() });
    this.log.info({ vmId: m.id }, "pooled machine retired: its pool window closed");
  }

  /**
   * Makes a machine: leased to `req.taskId`, or pooled (state `ready`) when the task id is empty.
   * Null when another instance is making this task's machine.
   */
  private async make(req: LeaseRequest, seconds: number): Promise<MachineRow | null> {
    const id = randomUUID();
    const forPool = req.taskId === "";
    const log = this.log.child({ vmId: id, taskId: req.taskId || null });
    const user = generateSshKeyPair(`drover-${id}`);
    const host = generateSshKeyPair(`drover-${id}-host`);
    try {
      await insertMachine(this.db, {
        id,
        provider: this.provider.name,
        image: req.image,
        resourceClass: req.resourceClass,
        taskId: forPool ? null : req.taskId,
        pooled: forPool,
        sshUser: this.config.sshUser,
        sshPrivateKey: user.privateKey,
        hostPublicKey: host.publicKey,
        createdAt: this.now(),
      });
    } catch (err) {
      // Another instance is making this task's machine.
      if ((err as { code?: string }).code === "23505") return null;
      throw err;
    }
    const deadline = Date.now() + this.config.startTimeoutMs;
    let providerId: string | null = null;
    try {
      [providerId = null] = await this.provider.create([
        {
          image: req.image,
          resourceClass: req.resourceClass,
          tags: {
            ManagedBy: MANAGED_BY,
            install: this.config.installId,
            machine: id,
            ...(forPool ? { pool: "warm" } : { task: req.taskId }),
          },
          boot: {
            sshUser: this.config.sshUser,
            authorizedKey: user.publicKey,
            hostKey: host.privateKey,
          },
        },
      ]);
      if (!providerId) throw new VmError("DROVER_ERR_VM_NOT_READY", "the provider returned no id");
      await updateMachine(this.db, id, "provisioning", { providerId });
      const address = await this.waitRunning(providerId, deadline);
      await updateMachine(this.db, id, "provisioning", { address });
      const tls = await createDockerTlsSet({ ips: [address], dnsNames: [REMOTE_DOCKER_NAME] });
      await provisionMachine(
        {
          host: address,
          sshPort: 22,
          dockerPort: 2376,
          sshUser: this.config.sshUser,
          privateKey: user.privateKey,
          hostPublicKey: host.publicKey,
        },
        tls,
        { timeoutMs: Math.max(deadline - Date.now(), 1) },
      );
      const now = this.now();
      const leased = await updateMachine(
        this.db,
        id,
        forPool ? "ready" : "leased",
        {
          dockerCa: tls.caCert,
          dockerClientCert: tls.clientCert,
          dockerClientKey: tls.clientKey,
          readyAt: now,
          ...(forPool ? {} : { leaseExpiresAt: this.leaseUntil(seconds) }),
        },
        ["provisioning"],
      );
      if (!leased)
        throw new VmError("DROVER_ERR_VM_NOT_READY", "the machine was released while it started");
      log.info(
        { address, ms: now.getTime() - (deadline - this.config.startTimeoutMs) },
        forPool ? "pooled machine ready" : "machine leased",
      );
      const row = await getMachine(this.db, id);
      if (!row) throw new VmError("DROVER_ERR_VM_NOT_FOUND", `machine ${id} vanished`);
      return row;
    } catch (err) {
      const failure = err instanceof Error ? err.message : String(err);
      log.warn({ err }, "machine failed to start");
      await updateMachine(this.db, id, "failed", { failure }).catch(() => {});
      if (providerId) await this.provider.destroy([providerId]).catch(() => {});
      throw err;
    }
  }

  private async waitRunning(providerId: string, deadline: number): Promise<string> {
    for (;;) {
      const [info] = await this.provider.describe([providerId]);
      if (!info || info.state === "failed" || info.state === "deleted") {
        throw new VmError(
          "DROVER_ERR_VM_NOT_READY",
          `machine ${providerId} ${info ? `failed: ${info.failure ?? info.state}` : "disappeared"}`,
        );
      }
      if (info.state === "running" && info.internalAddress) return info.internalAddress;
      if (Date.now() > deadline) {
        throw new VmError("DROVER_ERR_VM_NOT_READY", `machine ${providerId} did not start in time`);
      }
      await sleep(250);
    }
  }

  /** Waits for machine `key` (or the task `key`'s machine) to be leased. */
  private async waitLeased(key: string, byTask = false): Promise<MachineLease> {
    const deadline = Date.now() + this.config.startTimeoutMs;
    const id = byTask ? ((await machineOfTask(this.db, key))?.id ?? key) : key;
    for (;;) {
      const row = await getMachine(this.db, id);
      if (row?.state === "leased") return this.present(row);
      if (!row || row.state === "failed" || row.state === "destroyed" || Date.now() > deadline) {
        throw new VmError(
          "DROVER_ERR_VM_NOT_READY",
          `machine ${id} did not become ready${row?.failure ? `: ${row.failure}` : ""}`,
        );
      }
      await sleep(250);
    }
  }

  private present(m: MachineRow): MachineLease {
    if (
      !m.address ||
      !m.taskId ||
      !m.providerId ||
      !m.dockerCa ||
      !m.dockerClientCert ||
      !m.dockerClientKey
    ) {
      throw new VmError("DROVER_ERR_VM_NOT_READY", `machine ${m.id} is not ready`);
    }
    return {
      id: m.id,
      provider: m.provider,
      providerId: m.providerId,
      taskId: m.taskId,
      image: m.image,
      resourceClass: m.resourceClass,
      host: m.address,
      sshPort: 22,
      dockerPort: 2376,
      sshUser: m.sshUser,
      sshPrivateKey: m.sshPrivateKey,
      hostPublicKey: m.hostPublicKey,
      hostKeyFingerprint: sshFingerprint(m.hostPublicKey),
      dockerNames: [REMOTE_DOCKER_NAME],
      docker: { caCert: m.dockerCa, clientCert: m.dockerClientCert, clientKey: m.dockerClientKey },
      expiresAt: (m.leaseExpiresAt ?? this.now()).toISOString(),
    };
  }

  /** The lease of machine `id`, if it is leased. */
  async get(id: string): Promise<MachineLease> {
    const row = await getMachine(this.db, id);
    if (!row || row.state !== "leased") {
      throw new VmError("DROVER_ERR_VM_NOT_FOUND", `no lease ${id}`);
    }
    return this.present(row);
  }

  /** Extends the lease to `seconds` from now. */
  async renew(id: string, seconds?: number): Promise<MachineLease> {
    const s = this.leaseSeconds(seconds);
    const ok = await updateMachine(
      this.db,
      id,
      "leased",
      { leaseExpiresAt: new Date(this.now().getTime() + s * 1000) },
      ["leased"],
    );
    if (!ok) throw new VmError("DROVER_ERR_VM_NOT_FOUND", `no lease ${id}`);
    return this.get(id);
  }

  /** Ends the lease and destroys the machine; releasing twice is fine. */
  async release(id: string, reason = "released"): Promise<void> {
    const row = await getMachine(this.db, id);
    if (!row) throw new VmError("DROVER_ERR_VM_NOT_FOUND", `no machine ${id}`);
    if (row.state === "destroyed") return;
    await updateMachine(this.db, id, "releasing");
    if (row.providerId) await this.provider.destroy([row.providerId]);
    await updateMachine(this.db, id, "destroyed", { releasedAt: this.now() });
    this.log.info({ vmId: id, taskId: row.taskId, reason }, "machine released");
  }

  /** Releases the live machine of a task, if it has one (the control plane calls it at task end). */
  async releaseTask(taskId: string): Promise<boolean> {
    const row = await machineOfTask(this.db, taskId);
    if (!row) return false;
    await this.release(row.id, "task ended");
    return true;
  }

  async list(): Promise<MachineSummary[]> {
    return (await listMachines(this.db)).map(summarize);
  }

  /**
   * One reaper pass: destroys machines whose lease ran out, machines stuck starting past the start
   * limit, and tagged machines of this installation that the database does not know (after the
   * grace period) or knows as destroyed or failed; records ready or leased machines the provider
   * lost as failed. Returns the provider ids it destroyed.
   */
  async reap(): Promise<string[]> {
    const now = this.now().getTime();
    const destroyed: string[] = [];
    for (const m of await listMachines(this.db)) {
      const expired = m.state === "leased" && m.leaseExpiresAt && m.leaseExpiresAt.getTime() < now;
      const stuck =
        (m.state === "provisioning" || m.state === "releasing") &&
        !this.making.has(m.taskId ?? "") &&
        m.createdAt.getTime() + this.config.startTimeoutMs < now;
      if (!expired && !stuck) continue;
      this.log.warn({ vmId: m.id, taskId: m.taskId, state: m.state }, "reaping machine");
      if (m.providerId) destroyed.push(m.providerId);
      await this.release(m.id, expired ? "lease expired" : "stuck").catch((err: unknown) =>
        this.log.error({ err, vmId: m.id }, "reap failed"),
      );
    }
    // Ready or leased machines the provider no longer has (destroyed out of band, host gone):
    // recorded as failed, so a pool never hands one out and its slot is refilled.
    const held = (await listMachines(this.db, ["ready", "leased"])).filter(
      (m) => m.provider === this.provider.name && m.providerId && !destroyed.includes(m.providerId),
    );
    if (held.length > 0) {
      const alive = new Map(
        (await this.provider.describe(held.map((m) => m.providerId!))).map((i) => [i.id, i]),
      );
      for (const m of held) {
        const info = alive.get(m.providerId!);
        if (info && info.state !== "deleted" && info.state !== "failed") continue;
        const why = info ? `the machine is ${info.state}` : "the machine vanished";
        if (await updateMachine(this.db, m.id, "failed", { failure: why }, [m.state])) {
          this.log.warn({ vmId: m.id, taskId: m.taskId, why }, "machine lost");
          if (info) await this.provider.destroy([info.id]).catch(() => undefined);
        }
      }
    }
    const tagged = await this.provider.list({
      ManagedBy: MANAGED_BY,
      install: this.config.installId,
    });
    for (const machine of tagged) {
      const row =
        (await machineByProviderId(this.db, this.provider.name, machine.id)) ??
        (machine.tags.machine ? await getMachine(this.db, machine.tags.machine) : null);
      const orphan =
        (!row && machine.createdAt.getTime() + this.config.reaperGraceMs < now) ||
        row?.state === "destroyed" ||
        row?.state === "failed";
      if (!orphan || destroyed.includes(machine.id)) continue;
      this.log.warn({ providerId: machine.id, known: Boolean(row) }, "reaping orphan machine");
      await this.provider.destroy([machine.id]);
      destroyed.push(machine.id);
    }
    return destroyed;
  }
}
