/**
 * vm-service's HTTP API (port 3000). Callers are the control plane and agents only, each with the
 * service token (`Authorization: Bearer`). JSON bodies are checked strictly (unknown fields fail).
 *
 * | route | what |
 * |---|---|
 * | `POST /v1/leases` | lease a machine for a task (`taskId`, `image`, `resourceClass`, `leaseSeconds?`) |
 * | `GET /v1/leases/{id}` | the lease, with its connection info |
 * | `POST /v1/leases/{id}/renew` | extend it (`leaseSeconds?`) |
 * | `DELETE /v1/leases/{id}` | release it: the machine is destroyed |
 * | `DELETE /v1/tasks/{taskId}/lease` | release whatever a task leased (at task end) |
 * | `GET /v1/machines` | live machines, without credentials (operators) |
 * | `GET /healthz` | the provider's health (no token) |
 * | `GET /readyz` | the database and the provider answer (no token) |
 * | `GET /metrics` | Prometheus: machines by state (no token) |
 */
import { createRequire } from "node:module";
import { timingSafeEqual, createHash } from "node:crypto";
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from "fastify";
import { Gauge, Registry, collectDefaultMetrics } from "prom-client";
import type { Logger } from "pino";
import { z } from "zod";
import { VmError, type VmErrorCode } from "../errors.js";
import type { MachineProvider } from "../provider/types.js";

/** This package's version, sent on /healthz (`drover doctor` reports it). */
const VERSION = (createRequire(import.meta.url)("../../package.json") as { version: string })
  .version;
import type { LeaseService } from "../service/leases.js";

const STATUS: Record<VmErrorCode, number> = {
  DROVER_ERR_VM_INVALID: 400,
  DROVER_ERR_VM_UNAUTHENTICATED: 401,
  DROVER_ERR_VM_NOT_FOUND: 404,
  DROVER_ERR_VM_INTERNAL: 500,
  DROVER_ERR_VM_PROVIDER: 502,
  DROVER_ERR_VM_NOT_READY: 503,
  DROVER_ERR_VM_UNREACHABLE: 503,
};

const leaseBody = z
  .object({
    taskId: z.string().min(1).max(200),
    image: z.string().min(1).max(200),
    resourceClass: z.string().min(1).max(100),
    leaseSeconds: z.number().int().positive().optional(),
  })
  .strict();
const renewBody = z.object({ leaseSeconds: z.number().int().positive().optional() }).strict();
const idParam = z.object({ id: z.string().uuid() }).strict();
const taskParam = z.object({ taskId: z.string().min(1).max(200) }).strict();

function parse<S extends z.ZodType>(schema: S, value: unknown, where: string): z.infer<S> {
  const r = schema.safeParse(value ?? {});
  if (r.success) return r.data;
  const issues = r.error.issues
    .map((i) => `${[where, ...i.path.map(String)].join(".")}: ${i.message}`)
    .join("; ");
  throw new VmError("DROVER_ERR_VM_INVALID", issues);
}

const digest = (s: string): Buffer => createHash("sha256").update(s).digest();

export interface VmApiDeps {
  leases: LeaseService;
  provider: MachineProvider;
  /** The shared service token callers present. */
  serviceToken: string;
  logger: Logger;
  /** Serve HTTPS with this PEM certificate and key. */
  https?: { cert: string; key: string };
}

/** vm-service's Prometheus metrics: machines by state, in a registry of its own. */
function vmMetrics(leases: LeaseService, provider: string): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: "drover_vm_" });
  new Gauge({
    name: "drover_vm_machines",
    help: "Machines by state (provisioning, ready in a warm pool, leased, releasing).",
    labelNames: ["state", "provider"],
    registers: [registry],
    async collect() {
      this.reset();
      const counts = new Map<string, number>();
      for (const m of await leases.list()) counts.set(m.state, (counts.get(m.state) ?? 0) + 1);
      for (const state of ["provisioning", "ready", "leased", "releasing"]) {
        this.set({ state, provider }, counts.get(state) ?? 0);
      }
    },
  });
  return registry;
}

/** Builds the API (not listening); the caller listens and closes it. */
export function createVmApi(deps: VmApiDeps): FastifyInstance {
  const app = Fastify({
    ...(deps.https ? { https: deps.https } : {}),
    loggerInstance: deps.logger.child({ unit: "vm-api" }) as FastifyBaseLogger,
    bodyLimit: 64 * 1024,
  });
  const expected = digest(deps.serviceToken);

  app.addHook("onRequest", async (req) => {
    if (req.url === "/healthz" || req.url === "/readyz" || req.url === "/metrics") return;
    const header = req.headers.authorization ?? "";
    const token = header.startsWith("Bearer ") ? header.slice(7) : "";
    if (!token || !timingSafeEqual(digest(token), expected)) {
      throw Object.assign(new Error("a valid service token is required"), { statusCode: 401 });
    }
  });

  app.setErrorHandler((err: unknown, req, reply) => {
    if (err instanceof VmError) {
      const status = STATUS[err.code];
      if (status >= 500) req.log.warn({ err }, err.message);
      return reply.code(status).send({ message: err.message, code: err.code });
    }
    const e = err as { statusCode?: number; message?: string; code?: string };
    if (e.statusCode === 401) {
      return reply.code(401).send({ message: e.message, code: "DROVER_ERR_VM_UNAUTHENTICATED" });
    }
    if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
      return reply
        .code(e.statusCode)
        .send({ message: e.message ?? "bad request", code: "DROVER_ERR_VM_INVALID" });
    }
    req.log.error({ err }, "request failed");
    return reply.code(500).send({ message: "internal error", code: "DROVER_ERR_VM_INTERNAL" });
  });

  app.get("/healthz", async (_req, reply) => {
    const h = await deps.provider.health();
    return reply
      .code(h.ok ? 200 : 503)
      .header("x-drover-version", VERSION)
      .send({
        status: h.ok ? "ok" : "unavailable",
        provider: deps.provider.name,
        detail: h.detail,
      });
  });

  // Ready: the database answers and the provider is healthy.
  app.get("/readyz", async (_req, reply) => {
    const checks: Record<string, { ok: boolean; detail: string }> = {};
    try {
      await deps.leases.list();
      checks.database = { ok: true, detail: "ok" };
    } catch (err) {
      checks.database = { ok: false, detail: err instanceof Error ? err.message : String(err) };
    }
    const h = await deps.provider.health();
    checks.provider = { ok: h.ok, detail: `${deps.provider.name}: ${h.detail}` };
    const ok = Object.values(checks).every((c) => c.ok);
    return reply.code(ok ? 200 : 503).send({ status: ok ? "ready" : "not ready", checks });
  });

  const registry = vmMetrics(deps.leases, deps.provider.name);
  app.get("/metrics", async (_req, reply) =>
    reply.header("content-type", registry.contentType).send(await registry.metrics()),
  );

  app.post("/v1/leases", async (req, reply) => {
    const body = parse(leaseBody, req.body, "body");
    const lease = await deps.leases.lease(body);
    return reply.code(201).header("cache-control", "no-store").send(lease);
  });

  app.get("/v1/leases/:id", async (req, reply) => {
    const { id } = parse(idParam, req.params, "path");
    return reply.header("cache-control", "no-store").send(await deps.leases.get(id));
  });

  app.post("/v1/leases/:id/renew", async (req, reply) => {
    const { id } = parse(idParam, req.params, "path");
    const { leaseSeconds } = parse(renewBody, req.body, "body");
    return reply
      .header("cache-control", "no-store")
      .send(await deps.leases.renew(id, leaseSeconds));
  });

  app.delete("/v1/leases/:id", async (req, reply) => {
    const { id } = parse(idParam, req.params, "path");
    await deps.leases.release(id);
    return reply.code(204).send();
  });

  app.delete("/v1/tasks/:taskId/lease", async (req, reply) => {
    const { taskId } = parse(taskParam, req.params, "path");
    const released = await deps.leases.releaseTask(taskId);
    if (!released) throw new VmError("DROVER_ERR_VM_NOT_FOUND", `task ${taskId} has no machine`);
    return reply.code(204).send();
  });

  app.get("/v1/machines", async () => ({ items: await deps.leases.list() }));

  return app;
}
