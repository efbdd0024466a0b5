import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  SecretsError,
  createSecretStore,
  secretStoreConfigFromEnv,
  type SecretStore,
} from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";
import { startVaultTransitServer, type VaultTransitServer } from "@drover/control-plane/testing";

let dir: string;
let server: VaultTransitServer;
let db: Database;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "drover-vault-tls-"));
  execFileSync(
    "openssl",
    [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-keyout",
      join(dir, "key.pem"),
      "-out",
      join(dir, "ca.pem"),
      "-days",
      "1",
      "-subj",
      "/CN=127.0.0.1",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    { stdio: "ignore" },
  );
  server = await startVaultTransitServer({
    transitMounts: ["transit"],
    tls: {
      key: readFileSync(join(dir, "key.pem"), "utf8"),
      cert: readFileSync(join(dir, "ca.pem"), "utf8"),
    },
  });
  db = await openDatabase({});
});

afterAll(async () => {
  await server?.close();
  await db?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe("vault store over TLS", () => {
  it("trusts the server through VAULT_CACERT", async () => {
    expect(server.url.startsWith("https://")).toBe(true);
    const store: SecretStore = await createSecretStore(
      secretStoreConfigFromEnv({
        VAULT_ADDR: server.url,
        VAULT_TOKEN: server.rootToken,
        VAULT_CACERT: join(dir, "ca.pem"),
        DROVER_VAULT_TRANSIT_KEY: "tls-key",
      }),
      { db },
    );
    expect(store.kind).toBe("vault");
    expect(await store.decrypt(await store.encrypt("over tls"))).toBe("over tls");
  });

  it("refuses a server it cannot verify, as an infrastructure error", async () => {
    const err = await createSecretStore(
      secretStoreConfigFromEnv({ VAULT_ADDR: server.url, VAULT_TOKEN: server.rootToken }),
      { db },
    ).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SecretsError);
    expect((err as SecretsError).code).toBe("DROVER_ERR_SECRETS_VAULT");
  });
});
