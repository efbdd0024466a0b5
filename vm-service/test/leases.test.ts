import { randomUUID } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  LeaseService,
  leaseAccess,
  LocalProvider,
  MANAGED_BY,
  VmError,
  ensureVmSchema,
  generateSshKeyPair,
  sshExec,
  type MachineInfo,
  type MachineProvider,
  type PostgresSql,
} from "@drover/vm-service";
import { describeDocker, testDatabase } from "./helpers.js";

const logger = pino({ level: "silent" });

describeDocker("leases on the local provider and PostgreSQL", () => {
  let db: PostgresSql;
  let provider: LocalProvider;
  const installId = `test-${randomUUID()}`;
  let clock = Date.now();
  const now = (): Date => new Date(clock);
  let leases: LeaseService;

  beforeAll(async () => {
    db = testDatabase();
    await ensureVmSchema(db);
    await ensureVmSchema(db); // twice is fine
    provider = new LocalProvider({}, logger);
    leases = new LeaseService({ db, provider, logger, config: { installId }, now });
  });
  afterAll(async () => {
    const left = await provider.list({ install: installId });
    await provider.destroy(left.map((m) => m.id));
    await db.close();
  });

  const live = async (): Promise<MachineInfo[]> => provider.list({ install: installId });

  it("leases a fresh machine per task, reachable with the lease's credentials only", async () => {
    const taskId = randomUUID();
    const lease = await leases.lease({ taskId, image: "default", resourceClass: "medium" });
    expect(lease.taskId).toBe(taskId);
    expect(lease.hostKeyFingerprint).toMatch(/^SHA256:/);
    expect(lease.docker.clientCert).toContain("BEGIN CERTIFICATE");
    const access = leaseAccess(lease);
    const r = await sshExec(access, "echo $USER; docker info --format '{{.ServerVersion}}'");
    expect(r.code).toBe(0);
    expect(r.stdout.split("\n")[0]).toBe("circleci");
    // Idempotent on the task: the same machine again.
    const again = await leases.lease({ taskId, image: "default", resourceClass: "medium" });
    expect(again.id).toBe(lease.id);
    // Another task never gets it, nor its keys.
    const other = await leases.lease({
      taskId: randomUUID(),
      image: "default",
      resourceClass: "medium",
    });
    expect(other.id).not.toBe(lease.id);
    expect(other.host).not.toBe(lease.host);
    expect(other.sshPrivateKey).not.toBe(lease.sshPrivateKey);
    const denied = await sshExec(
      { ...access, host: other.host, hostPublicKey: other.hostPublicKey },
      "true",
    ).catch((e: unknown) => e);
    expect(String(denied)).toContain("authentication methods failed");

    // Released: the machine is gone, a second release is fine.
    await leases.release(lease.id);
    await leases.release(lease.id);
    expect((await live()).map((m) => m.tags.machine)).toEqual([other.id]);
    await expect(leases.get(lease.id)).rejects.toMatchObject({ code: "DROVER_ERR_VM_NOT_FOUND" });
    expect(await leases.releaseTask(other.taskId)).toBe(true);
    expect(await live()).toEqual([]);
  });

  it("refuses lease lengths past the limit", async () => {
    await expect(
      leases.lease({
        taskId: randomUUID(),
        image: "default",
        resourceClass: "medium",
        leaseSeconds: 10 ** 9,
      }),
    ).rejects.toBeInstanceOf(VmError);
  });

  it("reaps expired leases and tagged machines the database does not know", async () => {
    const lease = await leases.lease({
      taskId: randomUUID(),
      image: "default",
      resourceClass: "medium",
      leaseSeconds: 60,
    });
    const renewed = await leases.renew(lease.id, 120);
    expect(Date.parse(renewed.expiresAt)).toBeGreaterThan(Date.parse(lease.expiresAt));
    // A machine someone else made with this installation's tags.
    const key = generateSshKeyPair("stray");
    const [stray = ""] = await provider.create([
      {
        image: "default",
        resourceClass: "medium",
        tags: { ManagedBy: MANAGED_BY, install: installId },
        boot: { sshUser: "circleci", authorizedKey: key.publicKey, hostKey: key.privateKey },
      },
    ]);
    // Young strays and live leases are spared.
    expect(await leases.reap()).toEqual([]);
    const leasedId = (await live()).find((m) => m.tags.machine === lease.id)?.id;
    expect(leasedId).toBeDefined();
    clock += 11 * 60_000;
    const reaped = await leases.reap();
    expect(reaped.sort()).toEqual([stray, leasedId].sort());
    expect(await live()).toEqual([]);
  });

  it("loses nothing when vm-service dies mid-lease: the next one destroys the half-made machine", async () => {
    // An instance that dies while the machine starts: its describe never answers.
    const created: string[] = [];
    const dying: MachineProvider = {
      name: provider.name,
      create: async (specs) => {
        const ids = await provider.create(specs);
        created.push(...ids);
        return ids;
      },
      describe: () => new Promise(() => {}),
      list: (tags) => provider.list(tags),
      destroy: (ids) => provider.destroy(ids),
      health: () => provider.health(),
      close: async () => {},
    };
    const crashed = new LeaseService({ db, provider: dying, logger, config: { installId }, now });
    void crashed.lease({ taskId: randomUUID(), image: "default", resourceClass: "medium" });
    await expect.poll(() => created.length, { timeout: 30_000 }).toBe(1);
    expect((await live()).map((m) => m.id)).toEqual(created);

    // A restarted vm-service on the same database.
    const restarted = new LeaseService({ db, provider, logger, config: { installId }, now });
    expect(await restarted.reap()).toEqual([]); // not stuck yet
    clock += 7 * 60_000;
    expect(await restarted.reap()).toEqual(created);
    expect(await live()).toEqual([]);
    expect((await restarted.list()).filter((m) => m.state !== "destroyed")).toEqual([]);
  });

  it("hands out warm pool machines once each, and replaces them", async () => {
    const pools = [{ image: "ubuntu-2204:current", resourceClass: "large", preallocated: 1 }];
    const pooled = new LeaseService({ db, provider, logger, config: { installId, pools }, now });
    expect(await pooled.fillPools()).toBe(1);
    expect(await pooled.fillPools()).toBe(0); // full
    const [warm] = (await pooled.list()).filter((m) => m.state === "ready");
    expect(warm).toBeDefined();
    const warmTask = randomUUID();
    const lease = await pooled.lease({
      taskId: warmTask,
      image: "ubuntu-2204:current",
      resourceClass: "large",
    });
    expect(lease.id).toBe(warm?.id);
    // Another image is not served from this pool.
    const other = await pooled.lease({
      taskId: randomUUID(),
      image: "default",
      resourceClass: "large",
    });
    expect(other.id).not.toBe(warm?.id);
    // The pool refills; the used machine is destroyed on release, never reused.
    await expect
      .poll(async () => (await pooled.list()).filter((m) => m.state === "ready").length, {
        timeout: 60_000,
      })
      .toBe(1);
    // Asked again with a warm machine ready, the task keeps its own machine.
    const again = await pooled.lease({
      taskId: warmTask,
      image: "ubuntu-2204:current",
      resourceClass: "large",
    });
    expect(again.id).toBe(lease.id);
    expect((await pooled.list()).filter((m) => m.state === "ready")).toHaveLength(1);
    await pooled.release(lease.id);
    await pooled.release(other.id);
    const next = await pooled.lease({
      taskId: randomUUID(),
      image: "ubuntu-2204:current",
      resourceClass: "large",
    });
    expect(next.id).not.toBe(lease.id);
    await pooled.release(next.id);
  });
  it("holds a scheduled window's count while it is open, and retires the surplus after", async () => {
    let at = new Date("2026-12-07T08:30:00Z"); // a Monday, inside the 08:00 window
    const pools = [
      {
        image: "window-image",
        resourceClass: "medium",
        preallocated: 0,
        scheduled: [{ cron: "0 8 * * 1-5", durationMinutes: 60, preallocated: 1 }],
      },
    ];
    const windowed = new LeaseService({
      db,
      provider,
      logger,
      config: { installId, pools },
      now: () => at,
    });
    const ready = async () =>
      (await windowed.list()).filter((m) => m.image === "window-image" && m.state === "ready");
    expect(await windowed.fillPools()).toBe(1);
    expect(await ready()).toHaveLength(1);
    at = new Date("2026-12-07T09:30:00Z"); // the window closed
    expect(await windowed.fillPools()).toBe(0);
    expect(await ready()).toEqual([]);
    at = new Date("2026-12-12T08:30:00Z"); // Saturday: no window
    expect(await windowed.fillPools()).toBe(0);
  });
  it("records a pooled machine that vanished as failed and never hands it out", async () => {
    const pools = [{ image: "vanishing", resourceClass: "medium", preallocated: 1 }];
    const pooled = new LeaseService({ db, provider, logger, config: { installId, pools }, now });
    expect(await pooled.fillPools()).toBe(1);
    const [warm] = (await pooled.list()).filter((m) => m.image === "vanishing");
    await provider.destroy([warm!.providerId!]); // gone behind vm-service's back
    await pooled.reap();
    expect((await pooled.list()).map((m) => m.id)).not.toContain(warm!.id);
    const { rows } = await db.query("SELECT state, failure FROM vm_machines WHERE id = $1", [
      warm!.id,
    ]);
    expect(rows[0]).toEqual({ state: "failed", failure: "the machine vanished" });
    const lease = await pooled.lease({
      taskId: randomUUID(),
      image: "vanishing",
      resourceClass: "medium",
    });
    expect(lease.id).not.toBe(warm!.id);
    await pooled.release(lease.id);
  });
});
