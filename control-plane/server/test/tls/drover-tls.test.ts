/**
 * `startDrover` (what `drover up` runs) with a certificate: the API, the output-processor and
 * vm-service serve TLS; clients that trust the CA get through, others are refused with an error
 * that names the problem; HSTS and Secure cookies under TLS; plaintext beyond loopback refused.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DroverClient } from "@drover/cli";
import {
  InstantScheduler,
  serverConfigSchema,
  startDrover,
  type Drover,
} from "@drover/control-plane";
import { OutputClient } from "@drover/output-processor/client";
import { TaskApiClient } from "@drover/task-api";
import { createCa, createCertificate, type KeyPair } from "@drover/tls";
import { VmServiceClient } from "@drover/vm-service/client";
import { logger } from "../helpers/harness.js";

let drover: Drover;
let dir: string;
let ca: KeyPair;
let other: KeyPair;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "drover-tls-"));
  ca = await createCa();
  other = await createCa({ commonName: "not ours" });
  const server = await createCertificate(ca, { kind: "server" });
  for (const [name, pem] of Object.entries({
    "ca.pem": ca.cert,
    "server.pem": server.cert,
    "server-key.pem": server.key,
  })) {
    writeFileSync(join(dir, name), pem);
  }
  const config = serverConfigSchema.parse({
    port: 0,
    outputPort: 0,
    dataDir: join(dir, "data"),
    tickIntervalMs: 0,
    scheduleTickMs: 0,
    tlsCert: join(dir, "server.pem"),
    tlsKey: join(dir, "server-key.pem"),
    tlsCa: join(dir, "ca.pem"),
  });
  drover = await startDrover({ config, logger, env: {}, scheduler: new InstantScheduler() });
});

afterAll(async () => {
  await drover?.close();
});

describe("drover up with a certificate", () => {
  it("serves the API, the output-processor and vm-service over TLS", () => {
    expect(drover.cp.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(drover.outputUrl).toMatch(/^https:\/\//);
    if (drover.vm) expect(drover.vm.url).toMatch(/^https:\/\//);
  });

  it("a client trusting the CA is served, with HSTS and a Secure HttpOnly session cookie", async () => {
    const admin = new DroverClient(drover.cp.url, drover.cp.bootstrapToken!, {
      tlsCa: join(dir, "ca.pem"),
    });
    expect((await admin.me()).login).toBe("admin");
    const dispatcher = new Agent({ connect: { ca: ca.cert } });
    try {
      const health = await fetch(`${drover.cp.url}/healthz`, { dispatcher } as RequestInit);
      expect(health.status).toBe(200);
      expect(health.headers.get("strict-transport-security")).toMatch(/max-age=\d+/);
      // The control plane reaches its output-processor over TLS, verifying it against the CA.
      const ready = await fetch(`${drover.cp.url}/readyz`, { dispatcher } as RequestInit);
      const body = (await ready.json()) as { checks: Record<string, { ok: boolean }> };
      expect(body.checks.outputProcessor?.ok).toBe(true);

      const password = "a long enough password";
      await admin.request("POST", "/api/v2/admin/users", { login: "tls-user", password });
      const login = await fetch(`${drover.cp.url}/api/v2/auth/login`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ login: "tls-user", password }),
        dispatcher,
      } as RequestInit);
      expect(login.status).toBe(200);
      const cookie = login.headers.get("set-cookie") ?? "";
      expect(cookie).toMatch(/; HttpOnly/);
      expect(cookie).toMatch(/; Secure/);
    } finally {
      await dispatcher.close();
    }
  });

  it("vm-service's client verifies vm-service against the CA", async () => {
    if (!drover.vm) return;
    const trusting = new VmServiceClient({
      url: drover.vm.url,
      serviceToken: drover.vm.serviceToken,
      tls: { ca: ca.cert },
    });
    expect((await trusting.health()).status).toBeTruthy();
    await trusting.close();
    const untrusting = new VmServiceClient({
      url: drover.vm.url,
      serviceToken: drover.vm.serviceToken,
      tls: { ca: other.cert },
    });
    await expect(untrusting.health()).rejects.toMatchObject({ code: "DROVER_ERR_TLS_UNKNOWN_CA" });
    await untrusting.close();
  });

  it("the CLI's, the agent's and the output client refuse a server of another CA, saying so", async () => {
    const cli = new DroverClient(drover.cp.url, "token", { tlsCa: join(dir, "ca.pem") });
    const wrong = join(dir, "other-ca.pem");
    writeFileSync(wrong, other.cert);
    await expect(new DroverClient(drover.cp.url, "t", { tlsCa: wrong }).me()).rejects.toThrow(
      /not signed by a trusted CA \((SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE)\): set DROVER_TLS_CA/,
    );
    await expect(cli.me()).rejects.toMatchObject({ code: "DROVER_ERR_API" }); // TLS fine, token bad

    const agent = new TaskApiClient({ url: drover.cp.url, tls: { ca: other.cert }, retries: 1 });
    await expect(agent.claim("x")).rejects.toMatchObject({ code: "DROVER_ERR_TLS_UNKNOWN_CA" });

    const output = new OutputClient({
      url: drover.outputUrl,
      token: "x",
      taskId: "t",
      tls: { ca: other.cert },
    });
    await expect(output.connect()).rejects.toMatchObject({ code: "DROVER_ERR_TLS_UNKNOWN_CA" });
    await output.close().catch(() => undefined);
  });
});

describe("plaintext beyond loopback", () => {
  const base = () => ({
    port: 0,
    outputPort: 0,
    dataDir: mkdtempSync(join(tmpdir(), "drover-plain-")),
    tickIntervalMs: 0,
    scheduleTickMs: 0,
  });

  it("is refused at start, naming why, unless DROVER_ALLOW_PLAINTEXT=true", async () => {
    const start = (over: Record<string, unknown>) =>
      startDrover({
        config: serverConfigSchema.parse({ ...base(), ...over }),
        logger,
        env: {},
        vm: { mode: "off" },
        scheduler: new InstantScheduler(),
      });
    await expect(start({ host: "0.0.0.0" })).rejects.toMatchObject({
      code: "DROVER_ERR_PLAINTEXT_REFUSED",
      message: expect.stringMatching(
        /the control plane's API would listen in plaintext on 0\.0\.0\.0 \(DROVER_HOST\).*DROVER_TLS_CERT/,
      ),
    });
    await expect(start({ redisUrl: "redis://cache.example.com:6379" })).rejects.toMatchObject({
      code: "DROVER_ERR_PLAINTEXT_REFUSED",
      message: expect.stringMatching(
        /Redis at redis:\/\/cache.example.com:6379 \(REDIS_URL\).*rediss:\/\//,
      ),
    });
    await expect(start({ databaseUrl: "postgres://db.example.com/drover" })).rejects.toMatchObject({
      code: "DROVER_ERR_PLAINTEXT_REFUSED",
    });
    await expect(start({ outputHost: "0.0.0.0" })).rejects.toMatchObject({
      message: expect.stringMatching(
        /output-processor would listen in plaintext.*DROVER_OUTPUT_HOST/,
      ),
    });
    // The operator says so: it starts (on every interface).
    const allowed = await start({ host: "0.0.0.0", allowPlaintext: true });
    expect(allowed.cp.url).toMatch(/^http:\/\//);
    await allowed.close();
  });
});
