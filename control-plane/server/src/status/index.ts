/**
 * The control plane's status endpoints: `/readyz` (each dependency answers: the database, the
 * output-processor, vm-service) and Prometheus `/metrics` (queue depth, tasks by state, machine
 * leases), in a registry of its own (several services share one process under `drover up`).
 */
import type { FastifyInstance } from "fastify";
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Database } from "../db/types.js";
import type { TaskMachines } from "../machines/types.js";

export interface StatusDeps {
  db: Database;
  /** The output-processor's base URL, when one serves this control plane. */
  outputUrl?: string;
  /** Verifies the output-processor's certificate against `DROVER_TLS_CA` (undici dispatcher). */
  dispatcher?: unknown;
  machines?: TaskMachines;
}

type Check = { ok: boolean; detail: string };

async function probe(fn: () => Promise<unknown>, ms = 2_000): Promise<Check> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(),
      new Promise((_r, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${ms / 1000} s`)), ms);
      }),
    ]);
    return { ok: true, detail: "ok" };
  } catch (err) {
    return { ok: false, detail: err instanceof Error ? err.message : String(err) };
  } finally {
    clearTimeout(timer);
  }
}

/** Tasks by status, read when scraped. */
async function taskCounts(db: Database): Promise<Map<string, number>> {
  const { rows } = await db.query<{ status: string; n: string | number }>(
    "SELECT status, count(*) AS n FROM tasks GROUP BY status",
  );
  return new Map(rows.map((r) => [r.status, Number(r.n)]));
}

export function createControlPlaneMetrics(deps: StatusDeps): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "drover_cp_" });
  new Gauge({
    name: "drover_tasks",
    help: "Tasks by status (pending, submitted, running, and the final ones).",
    labelNames: ["status"],
    registers: [registry],
    async collect() {
      this.reset();
      for (const [status, n] of await taskCounts(deps.db)) this.set({ status }, n);
    },
  });
  new Gauge({
    name: "drover_queue_depth",
    help: "Tasks waiting for an agent: not yet handed to the scheduler, or handed and not started.",
    registers: [registry],
    async collect() {
      const c = await taskCounts(deps.db);
      this.set((c.get("pending") ?? 0) + (c.get("submitted") ?? 0));
    },
  });
  if (deps.machines) {
    const machines = deps.machines;
    new Gauge({
      name: "drover_machine_leases",
      help: "Machines vm-service holds for tasks of this installation.",
      registers: [registry],
      async collect() {
        this.set((await machines.leases()).length);
      },
    });
  }
  return registry;
}

/** Registers `/metrics` and `/readyz` (no token: for Prometheus and load balancers). */
export function registerStatusRoutes(app: FastifyInstance, deps: StatusDeps): void {
  const registry = createControlPlaneMetrics(deps);
  app.get("/metrics", { config: { auth: "none" } }, async (_req, reply) => {
    const body = await registry.metrics();
    return reply.header("content-type", registry.contentType).send(body);
  });
  app.get("/readyz", { config: { auth: "none" } }, async (_req, reply) => {
    const checks: Record<string, Check> = {
      database: await probe(() => deps.db.query("SELECT 1")),
    };
    if (deps.outputUrl) {
      const url = `${deps.outputUrl.replace(/\/$/, "")}/healthz`;
      checks.outputProcessor = await probe(async () => {
        const res = await fetch(url, {
          signal: AbortSignal.timeout(2_000),
          ...(deps.dispatcher ? ({ dispatcher: deps.dispatcher } as RequestInit) : {}),
        });
        if (!res.ok) throw new Error(`${url} answered ${res.status}`);
      });
    }
    if (deps.machines) {
      const machines = deps.machines;
      checks.vmService = await probe(() => machines.leases());
    }
    const ok = Object.values(checks).every((c) => c.ok);
    return reply.code(ok ? 200 : 503).send({ status: ok ? "ready" : "not ready", checks });
  });
}
