import { randomUUID } from "node:crypto";
import { OAuth2Client } from "google-auth-library";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import {
  GceProvider,
  LeaseService,
  leaseAccess,
  LocalProvider,
  ProviderError,
  ensureVmSchema,
  sshExec,
  type GceAuthClient,
} from "@drover/vm-service";
import { startComputeTestServer, type ComputeTestServer } from "@drover/vm-service/testing";
import { describeDocker, testDatabase } from "./helpers.js";
import { providerConformance, specFor } from "./provider-conformance.js";

const logger = pino({ level: "silent" });
const token = `ya29.${randomUUID()}`;

function authClient(access = token): GceAuthClient {
  const c = new OAuth2Client();
  c.setCredentials({ access_token: access, expiry_date: Date.now() + 3_600_000 });
  return c as unknown as GceAuthClient;
}

describeDocker("gce provider on the Compute API test server, backed by local machines", () => {
  let api: ComputeTestServer;
  const machines = new LocalProvider({}, logger);
  const config = () => ({
    project: "drover-test",
    zones: ["us-central1-a", "us-central1-b"],
    images: { default: "projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts" },
    endpoint: { host: api.host, port: api.port, protocol: "http" as const },
  });

  beforeAll(async () => {
    api = await startComputeTestServer({ machines, token });
  });
  afterAll(async () => {
    await api?.close();
  });

  providerConformance({
    name: "gce (test server)",
    make: async () => new GceProvider(config(), logger, authClient()),
  });

  it("lowercases tags into valid labels and refuses what GCE refuses", async () => {
    const provider = new GceProvider(config(), logger, authClient());
    const spec = specFor({ ManagedBy: "drover-vm-service", "Task.Id": "ABC" });
    const [id = ""] = await provider.create([spec]);
    const [m] = await provider.describe([id]);
    expect(m?.tags).toEqual({ managedby: "drover-vm-service", task_id: "abc" });
    expect((await provider.list({ ManagedBy: "drover-vm-service" })).map((x) => x.id)).toContain(
      id,
    );
    await provider.destroy([id]);
    const noImage = await provider.create([{ ...spec, image: "windows" }]).catch((e: unknown) => e);
    expect(noImage).toBeInstanceOf(ProviderError);
    expect(noImage).toMatchObject({ kind: "config" });
    await provider.close();
  });

  it("the test server refuses what Compute refuses: bad labels, names, unknown fields", async () => {
    const post = async (body: unknown) => {
      const r = await fetch(`${api.url}/compute/v1/projects/p/zones/us-central1-a/instances`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body: JSON.stringify(body),
      });
      return {
        status: r.status,
        body: (await r.json()) as { error?: { message: string; errors: { reason: string }[] } },
      };
    };
    const good = {
      name: "drover-x",
      machineType: "zones/us-central1-a/machineTypes/n2-standard-2",
      disks: [{ boot: true, initializeParams: { sourceImage: "img" } }],
      networkInterfaces: [{}],
    };
    for (const bad of [
      { ...good, labels: { ManagedBy: "x" } },
      { ...good, labels: { ok: "UPPER" } },
      { ...good, name: "Drover_X" },
      { ...good, machineType: "zones/europe-west1-b/machineTypes/n2-standard-2" },
      { ...good, disks: [] },
      { ...good, gpu: true },
    ]) {
      const r = await post(bad);
      expect(r.status, JSON.stringify(bad)).toBe(400);
      expect(r.body.error?.errors[0]?.reason).toMatch(/invalid/);
    }
  });

  it("surfaces the API's refusal of a wrong token as a provider error", async () => {
    const provider = new GceProvider(config(), logger, authClient("wrong"));
    const err = await provider.create([specFor({ run: "x" })]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(String((err as Error).message)).toMatch(/authentication|401/i);
    expect((await provider.health()).ok).toBe(false);
    await provider.close();
  });

  it("leases a machine through the SDK and the API that answers SSH", async () => {
    const db = testDatabase();
    await ensureVmSchema(db);
    const provider = new GceProvider(config(), logger, authClient());
    const leases = new LeaseService({
      db,
      provider,
      logger,
      config: { installId: `t-${randomUUID()}` },
    });
    const lease = await leases.lease({
      taskId: randomUUID(),
      image: "default",
      resourceClass: "medium",
    });
    const r = await sshExec(leaseAccess(lease), "id -un");
    expect(r.stdout.trim()).toBe("circleci");
    await leases.release(lease.id);
    expect(await provider.list({ machine: lease.id })).toEqual([]);
    expect(api.calls.get("POST instances")).toBeGreaterThan(0);
    await provider.close();
    await db.close();
  });
});

// The same suite against real GCE when it is configured: DROVER_TEST_GCE holds the provider's
// settings as JSON (project, zones, images ...), credentials are Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS). Not registered otherwise: no cloud is reachable here.
const realGce = process.env.DROVER_TEST_GCE;
if (realGce) {
  providerConformance({
    name: "gce (real)",
    make: async () => new GceProvider(JSON.parse(realGce) as never, logger),
  });
}
