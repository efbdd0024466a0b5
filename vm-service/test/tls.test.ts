/** vm-service's TLS settings: read from DROVER_TLS_*, and no plaintext API beyond loopback unless allowed. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startVmService, vmServiceConfigFromEnv, type SqlDatabase } from "@drover/vm-service";
import { createCa, createCertificate } from "@drover/tls";

let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "drover-vm-tls-"));
  const pair = await createCertificate(await createCa(), { kind: "server" });
  writeFileSync(join(dir, "server.pem"), pair.cert);
  writeFileSync(join(dir, "server-key.pem"), pair.key);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = {
  DATABASE_URL: "postgres://127.0.0.1/test",
  DROVER_VM_SERVICE_TOKEN: "a-service-token-of-length",
  DROVER_VM_HOST: "0.0.0.0",
};

it("reads its certificate from DROVER_TLS_CERT/DROVER_TLS_KEY", () => {
  const { config } = vmServiceConfigFromEnv({
    ...env,
    DROVER_TLS_CERT: join(dir, "server.pem"),
    DROVER_TLS_KEY: join(dir, "server-key.pem"),
  });
  expect(config.tls?.cert).toMatch(/BEGIN CERTIFICATE/);
  expect(config.allowPlaintext).toBe(false);
  expect(
    vmServiceConfigFromEnv({ ...env, DROVER_ALLOW_PLAINTEXT: "true" }).config.allowPlaintext,
  ).toBe(true);
});

it("refuses a plaintext API beyond loopback at start, naming DROVER_VM_HOST", async () => {
  const db = {} as SqlDatabase; // refused before the database is touched
  await expect(
    startVmService({
      config: { host: "0.0.0.0", port: 0, serviceToken: env.DROVER_VM_SERVICE_TOKEN },
      db,
      logger: pino({ level: "silent" }),
    }),
  ).rejects.toMatchObject({
    code: "DROVER_ERR_PLAINTEXT_REFUSED",
    message: expect.stringMatching(
      /vm-service would listen in plaintext on 0\.0\.0\.0 \(DROVER_VM_HOST\)/,
    ),
  });
});
