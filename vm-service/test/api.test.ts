import { randomUUID } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import type { FastifyInstance } from "fastify";
import {
  LeaseService,
  leaseAccess,
  LocalProvider,
  VmServiceClient,
  createVmApi,
  ensureVmSchema,
  sshExec,
  type PostgresSql,
} from "@drover/vm-service";
import { describeDocker, testDatabase } from "./helpers.js";

const logger = pino({ level: "silent" });

describeDocker("vm-service API and client", () => {
  let db: PostgresSql;
  let app: FastifyInstance;
  let url = "";
  let client: VmServiceClient;
  const token = `svc-${randomUUID()}`;
  const installId = `test-${randomUUID()}`;
  const provider = new LocalProvider({}, logger);

  beforeAll(async () => {
    db = testDatabase();
    await ensureVmSchema(db);
    const leases = new LeaseService({ db, provider, logger, config: { installId } });
    app = createVmApi({ leases, provider, serviceToken: token, logger });
    url = await app.listen({ host: "127.0.0.1", port: 0 });
    client = new VmServiceClient({ url, serviceToken: token });
  });
  afterAll(async () => {
    await client.close();
    await app.close();
    const left = await provider.list({ install: installId });
    await provider.destroy(left.map((m) => m.id));
    await db.close();
  });

  it("answers /healthz without a token and nothing else without the right one", async () => {
    const h = await fetch(`${url}/healthz`);
    expect(h.status).toBe(200);
    expect(await h.json()).toMatchObject({ status: "ok", provider: "local" });
    for (const auth of [undefined, "Bearer wrong", `Basic ${token}`]) {
      const r = await fetch(`${url}/v1/machines`, { headers: auth ? { authorization: auth } : {} });
      expect(r.status).toBe(401);
      expect(await r.json()).toMatchObject({ code: "DROVER_ERR_VM_UNAUTHENTICATED" });
    }
    const wrong = new VmServiceClient({ url, serviceToken: "nope" });
    await expect(wrong.machines()).rejects.toMatchObject({ code: "DROVER_ERR_VM_UNAUTHENTICATED" });
    await wrong.close();
  });

  it("answers /readyz and Prometheus /metrics without a token", async () => {
    const ready = await fetch(`${url}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({
      status: "ready",
      checks: { database: { ok: true }, provider: { ok: true } },
    });
    const m = await fetch(`${url}/metrics`);
    expect(m.status).toBe(200);
    const text = await m.text();
    expect(text).toMatch(/^drover_vm_machines\{state="leased",provider="local"\} \d+$/m);
    expect(text).toMatch(/^drover_vm_process_cpu_user_seconds_total /m);
  });

  it("refuses bad bodies and ids, naming the field", async () => {
    const post = (body: string) =>
      fetch(`${url}/v1/leases`, {
        method: "POST",
        headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
        body,
      });
    const unknown = await post(
      JSON.stringify({ taskId: "t", image: "i", resourceClass: "r", gpu: 1 }),
    );
    expect(unknown.status).toBe(400);
    expect(await unknown.json()).toMatchObject({
      code: "DROVER_ERR_VM_INVALID",
      message: expect.stringContaining("gpu"),
    });
    const missing = await post(JSON.stringify({ image: "i", resourceClass: "r" }));
    expect(await missing.json()).toMatchObject({ message: expect.stringContaining("body.taskId") });
    const malformed = await post("{");
    expect(malformed.status).toBe(400);
    const big = await post(
      JSON.stringify({ taskId: "x".repeat(70_000), image: "i", resourceClass: "r" }),
    );
    expect(big.status).toBe(413);
    await expect(client.get("not-a-uuid")).rejects.toMatchObject({ code: "DROVER_ERR_VM_INVALID" });
    await expect(client.get(randomUUID())).rejects.toMatchObject({
      code: "DROVER_ERR_VM_NOT_FOUND",
    });
  });

  it("leases, renews and releases through the client", async () => {
    const taskId = randomUUID();
    const lease = await client.lease({ taskId, image: "default", resourceClass: "medium" });
    const r = await sshExec(leaseAccess(lease), "hostname");
    expect(r.stdout.trim()).toBe("drover-machine");
    expect((await client.get(lease.id)).host).toBe(lease.host);
    const renewed = await client.renew(lease.id, 7200);
    expect(Date.parse(renewed.expiresAt)).toBeGreaterThan(Date.parse(lease.expiresAt));
    const listed = await client.machines();
    expect(listed.map((m) => m.id)).toContain(lease.id);
    expect(JSON.stringify(listed)).not.toContain("PRIVATE KEY");
    await client.releaseTask(taskId);
    await expect(client.get(lease.id)).rejects.toMatchObject({ code: "DROVER_ERR_VM_NOT_FOUND" });
    await expect(client.releaseTask(taskId)).rejects.toMatchObject({
      code: "DROVER_ERR_VM_NOT_FOUND",
    });
    expect(await provider.list({ install: installId })).toEqual([]);
  });

  it("says when vm-service cannot be reached", async () => {
    const gone = new VmServiceClient({ url: "http://127.0.0.1:9", serviceToken: token });
    await expect(gone.machines()).rejects.toMatchObject({ code: "DROVER_ERR_VM_UNREACHABLE" });
    await gone.close();
  });
});
