/** `drover vm` against a real vm-service (local machines, PostgreSQL). */
import { randomUUID } from "node:crypto";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import pino from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import {
  LeaseService,
  LocalProvider,
  PostgresSql,
  createVmApi,
  ensureVmSchema,
} from "@drover/vm-service";
import { runCli } from "../src/index.js";

// Machines boot a Docker engine of their own: slow when the whole suite loads the host.
vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

const logger = pino({ level: "silent" });
const ready = spawnSync("docker", ["image", "inspect", "drover/machine:latest"]).status === 0;
if (!ready && process.env.CI === "true") throw new Error("CI: drover/machine:latest is required");

let out = "";
let err = "";
beforeEach(() => {
  out = "";
  err = "";
  vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => {
    out += String(c);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => {
    err += String(c);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

(ready ? describe : describe.skip)("drover vm", () => {
  const db = new PostgresSql({
    connectionString:
      process.env.DROVER_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
    schema: `cli_vm_${randomUUID().replace(/-/g, "").slice(0, 12)}`,
  });
  const provider = new LocalProvider({}, logger);
  const installId = `cli-test-${randomUUID()}`;
  const token = `svc-${randomUUID()}`;
  let app: FastifyInstance;
  let leases: LeaseService;
  let url = "";

  beforeAll(async () => {
    await ensureVmSchema(db);
    leases = new LeaseService({ db, provider, logger, config: { installId } });
    app = createVmApi({ leases, provider, serviceToken: token, logger });
    url = await app.listen({ host: "127.0.0.1", port: 0 });
  });
  afterAll(async () => {
    await app.close();
    const left = await provider.list({ install: installId });
    await provider.destroy(left.map((m) => m.id));
    await db.close();
  });

  it("lists machines without credentials and destroys one", async () => {
    const lease = await leases.lease({
      taskId: randomUUID(),
      image: "default",
      resourceClass: "medium",
    });
    vi.stubEnv("DROVER_VM_URL", url);
    vi.stubEnv("DROVER_VM_SERVICE_TOKEN", token);
    expect(await runCli(["vm", "list"])).toBe(0);
    expect(out).toContain(lease.id);
    expect(out).toContain(lease.host);
    expect(out).not.toContain("PRIVATE KEY");
    expect(await runCli(["vm", "destroy", lease.id])).toBe(0);
    expect(out).toContain(`machine ${lease.id} destroyed`);
    expect(await provider.list({ install: installId })).toEqual([]);
    out = "";
    expect(await runCli(["vm", "list", "--json"])).toBe(0);
    expect(JSON.parse(out)).toEqual([]);
  });

  it("finds the vm-service `drover up` saved in .drover/cli.json", async () => {
    const dir = mkdtempSync(join(tmpdir(), "drover-cli-vm-"));
    mkdirSync(join(dir, ".drover"));
    writeFileSync(
      join(dir, ".drover", "cli.json"),
      JSON.stringify({ url: "http://127.0.0.1:1", token: "x", vmUrl: url, vmToken: token }),
    );
    vi.stubEnv("DROVER_VM_URL", "");
    vi.stubEnv("DROVER_VM_SERVICE_TOKEN", "");
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      expect(await runCli(["vm", "list", "--json"])).toBe(0);
      expect(JSON.parse(out)).toEqual([]);
    } finally {
      process.chdir(cwd);
    }
  });

  it("says in one sentence what is wrong: no token, a wrong one, no vm-service", async () => {
    vi.stubEnv("DROVER_VM_URL", url);
    vi.stubEnv("DROVER_VM_SERVICE_TOKEN", "");
    expect(await runCli(["vm", "list"])).toBe(1);
    expect(err).toMatch(/DROVER_VM_SERVICE_TOKEN is not set/);
    err = "";
    vi.stubEnv("DROVER_VM_SERVICE_TOKEN", "wrong");
    expect(await runCli(["vm", "list"])).toBe(1);
    expect(err).toMatch(/service token/);
    err = "";
    vi.stubEnv("DROVER_VM_URL", "http://127.0.0.1:9");
    expect(await runCli(["vm", "destroy", randomUUID()])).toBe(1);
    expect(err).toMatch(/cannot reach vm-service/);
    expect(err).not.toMatch(/\n\s+at /);
  });
});
