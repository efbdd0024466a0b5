/**
 * `npm run bench -- vm [--leases N] [--rounds N] [--only handoff|cold|ssh]`: vm-service on the local provider and PostgreSQL
 * (`DROVER_TEST_DATABASE_URL`, default the local `test` database).
 * 1. Warm-pool handoff: N (default 20) concurrent lease calls through the HTTP API, each served by
 *    a pooled machine; p50/p99 of lease call -> connection info, beside the 50 ms goal and beside a
 *    bare PostgreSQL round trip on the same database.
 * 2. Cold machine to SSH-ready (create, running, SSH answering with the pinned host key) beside a
 *    bare `docker run --rm` of the same image (goal <= 2x), and beside EC2's published 25-29 s.
 * 3. A one-step machine job through the machine executor (connect, probe, the step, disconnect)
 *    and one bare ssh2 command, beside the OpenSSH client running the command on the same machine.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import { pino } from "pino";
import {
  LeaseService,
  leaseAccess,
  LocalProvider,
  PostgresSql,
  VmServiceClient,
  createVmApi,
  ensureVmSchema,
  generateSshKeyPair,
  sshConnect,
  sshExec,
} from "@drover/vm-service";
import { MachineExecutor } from "@drover/build-agent";

const IMAGE = "drover/machine:latest";
const logger = pino({ level: "silent" });

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)] ?? NaN;
};
const ms = (n: number): string => `${n.toFixed(1)} ms`;
const line = (s: string): void => void process.stdout.write(`${s}\n`);

async function handoff(db: PostgresSql, leases: number): Promise<void> {
  const installId = `bench-${randomUUID()}`;
  const provider = new LocalProvider({}, logger);
  const pools = [{ image: "default", resourceClass: "medium", preallocated: leases }];
  const service = new LeaseService({ db, provider, logger, config: { installId, pools } });
  const token = `bench-${randomUUID()}`;
  const app = createVmApi({ leases: service, provider, serviceToken: token, logger });
  const url = await app.listen({ host: "127.0.0.1", port: 0 });
  const client = new VmServiceClient({ url, serviceToken: token });
  try {
    // Two bursts: the first is this process's first (cold connections and code paths), the
    // second is a service that has served leases before; the goal is about the second.
    const bursts: number[][] = [];
    for (let round = 0; round < 2; round++) {
      const filling = Date.now();
      await service.fillPools();
      line(
        `warm pool: ${leases} machines ready in ${((Date.now() - filling) / 1000).toFixed(1)} s`,
      );
      // A running service has its database connections open: open them before measuring.
      await Promise.all(Array.from({ length: 10 }, () => db.query("SELECT pg_sleep(0.05)")));
      // The refill waits for the burst to end (poolRefillDelayMs); these leases drain the pool.
      const leased: string[] = [];
      bursts.push(
        await Promise.all(
          Array.from({ length: leases }, async () => {
            const t = performance.now();
            const l = await client.lease({
              taskId: randomUUID(),
              image: "default",
              resourceClass: "medium",
            });
            const took = performance.now() - t;
            leased.push(l.id);
            return took;
          }),
        ),
      );
      for (const id of leased) await client.release(id);
    }
    const [first = [], times = []] = bursts;
    // The floor under any handoff that survives a crash: one committed row update each, at the
    // same concurrency, on the same database (each commit waits for its WAL flush).
    await db.query("CREATE TABLE IF NOT EXISTS bench_commit (id int PRIMARY KEY, n int)");
    await db.query(
      "INSERT INTO bench_commit SELECT g, 0 FROM generate_series(1, $1) g ON CONFLICT DO NOTHING",
      [leases],
    );
    const commits = await Promise.all(
      Array.from({ length: leases }, async (_, i) => {
        const t = performance.now();
        await db.query("UPDATE bench_commit SET n = n + 1 WHERE id = $1", [i + 1]);
        return performance.now() - t;
      }),
    );
    const p99 = pct(times, 99);
    line(
      `handoff, first burst of the process: p50 ${ms(pct(first, 50))}, p99 ${ms(pct(first, 99))}`,
    );
    line(
      `handoff, ${leases} concurrent leases via the API: p50 ${ms(pct(times, 50))}, p99 ${ms(p99)}` +
        ` | goal 50 ms: ${(p99 / 50).toFixed(2)}x of the limit` +
        ` | ${leases} concurrent bare committed updates: p50 ${ms(pct(commits, 50))}, p99 ${ms(pct(commits, 99))}` +
        ` -> ${(p99 / pct(commits, 99)).toFixed(2)}x that floor`,
    );
  } finally {
    await service.stop();
    for (const m of await service.list()) await service.release(m.id).catch(() => {});
    await client.close();
    await app.close();
    const left = await provider.list({ install: installId });
    await provider.destroy(left.map((m) => m.id));
  }
}

async function cold(db: PostgresSql, rounds: number): Promise<void> {
  const provider = new LocalProvider({}, logger);
  const installId = `bench-${randomUUID()}`;
  const ours: number[] = [];
  const bare: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      spawnSync("docker", ["run", "--rm", "--entrypoint", "true", IMAGE]);
      bare.push(performance.now() - t0);

      const user = generateSshKeyPair("bench");
      const host = generateSshKeyPair("bench-host");
      const t1 = performance.now();
      const [id = ""] = await provider.create([
        {
          image: "default",
          resourceClass: "medium",
          tags: { install: installId },
          boot: { sshUser: "circleci", authorizedKey: user.publicKey, hostKey: host.privateKey },
        },
      ]);
      let address: string | null = null;
      while (!address) [{ internalAddress: address = null } = {}] = await provider.describe([id]);
      for (;;) {
        try {
          const conn = await sshConnect(
            {
              host: address,
              sshPort: 22,
              dockerPort: 2376,
              sshUser: "circleci",
              privateKey: user.privateKey,
              hostPublicKey: host.publicKey,
            },
            5_000,
          );
          conn.end();
          break;
        } catch {
          await new Promise((r) => setTimeout(r, 50));
        }
      }
      ours.push(performance.now() - t1);
      await provider.destroy([id]);
    }
    const o = pct(ours, 50);
    const b = pct(bare, 50);
    line(
      `cold local machine to SSH-ready: median ${ms(o)} | bare docker run --rm of ${IMAGE}: ${ms(b)}` +
        ` -> ${(o / b).toFixed(2)}x (goal <= 2x) | EC2 published 25-29 s: ${(o / 25_000).toFixed(3)}x`,
    );
  } finally {
    const left = await provider.list({ install: installId });
    await provider.destroy(left.map((m) => m.id));
  }
  void db;
}

async function sshStep(db: PostgresSql, rounds: number): Promise<void> {
  const provider = new LocalProvider({}, logger);
  const service = new LeaseService({
    db,
    provider,
    logger,
    config: { installId: `bench-${randomUUID()}` },
  });
  const lease = await service.lease({
    taskId: randomUUID(),
    image: "default",
    resourceClass: "medium",
  });
  const dir = mkdtempSync(join(tmpdir(), "drover-bench-vm-"));
  writeFileSync(join(dir, "id"), lease.sshPrivateKey, { mode: 0o600 });
  writeFileSync(join(dir, "known"), `${lease.host} ${lease.hostPublicKey}\n`);
  const access = leaseAccess(lease);
  const ours: number[] = [];
  const openssh: number[] = [];
  const job: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      const t0 = performance.now();
      execFileSync("ssh", [
        "-i",
        join(dir, "id"),
        "-o",
        `UserKnownHostsFile=${join(dir, "known")}`,
        "-o",
        "StrictHostKeyChecking=yes",
        "-o",
        "BatchMode=yes",
        `${lease.sshUser}@${lease.host}`,
        "true",
      ]);
      openssh.push(performance.now() - t0);
      const t1 = performance.now();
      await sshExec(access, "true");
      ours.push(performance.now() - t1);
      // The machine executor's whole one-step job: connect, probe the environment, run the
      // step (its own session, the job's environment and directory), disconnect.
      const t2 = performance.now();
      const executor = new MachineExecutor({
        workingDirectory: "~/project",
        lease: async () => ({ access, release: async () => {} }),
      });
      await executor.setup(() => {});
      await executor.exec({
        argv: ["true"],
        env: { CI: "true" },
        workdir: "/home/circleci/project",
      }).result;
      await executor.destroy();
      job.push(performance.now() - t2);
    }
    const o = pct(ours, 50);
    const s = pct(openssh, 50);
    const j = pct(job, 50);
    line(
      `one command over SSH (connect, auth, exec, exit): ssh2 median ${ms(o)} | OpenSSH client ${ms(s)}` +
        ` -> ${(o / s).toFixed(2)}x`,
    );
    line(
      `one-step machine job (connect, probe, run the step, disconnect): median ${ms(j)} | OpenSSH client running the command ${ms(s)}` +
        ` -> ${(j / s).toFixed(2)}x (goal <= 1.5x)`,
    );
  } finally {
    await service.release(lease.id);
  }
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      leases: { type: "string", default: "20" },
      rounds: { type: "string", default: "5" },
      only: { type: "string" },
    },
    strict: true,
  });
  const url = process.env.DROVER_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
  const schema = `bench_vm_${randomUUID().replace(/-/g, "").slice(0, 12)}`;
  const db = new PostgresSql({ connectionString: url, schema });
  try {
    await ensureVmSchema(db);
    const want = (part: string): boolean => !values.only || values.only === part;
    if (want("handoff")) await handoff(db, Number(values.leases));
    if (want("cold")) await cold(db, Number(values.rounds));
    if (want("ssh")) await sshStep(db, Number(values.rounds) * 4);
  } finally {
    await db.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`).catch(() => {});
    await db.close();
  }
}
