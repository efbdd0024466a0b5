import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
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
import { createCa, createCertificate, type KeyPair } from "@drover/tls";

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
    expect((err as Error).message).toMatch(/not signed by a trusted CA .*set VAULT_CACERT/);
  });
});

describe("vault certificates that are wrong", () => {
  let ca: KeyPair;
  const servers: VaultTransitServer[] = [];
  beforeAll(async () => {
    ca = await createCa();
    writeFileSync(join(dir, "drover-ca.pem"), ca.cert);
  });
  afterAll(async () => {
    for (const s of servers) await s.close();
  });
  const serve = async (pair: KeyPair): Promise<VaultTransitServer> => {
    const s = await startVaultTransitServer({ transitMounts: ["transit"], tls: pair });
    servers.push(s);
    return s;
  };
  const open = (s: VaultTransitServer, more: Record<string, string> = {}) =>
    createSecretStore(
      secretStoreConfigFromEnv({
        VAULT_ADDR: s.url,
        VAULT_TOKEN: s.rootToken,
        VAULT_CACERT: join(dir, "drover-ca.pem"),
        DROVER_VAULT_TRANSIT_KEY: "k",
        ...more,
      }),
      { db },
    );

  it("an expired certificate is refused, naming it", async () => {
    const expired = await createCertificate(ca, {
      kind: "server",
      now: new Date(Date.now() - 30 * 86_400_000),
      days: 1,
    });
    await expect(open(await serve(expired))).rejects.toThrow(
      /Vault has expired \(CERT_HAS_EXPIRED\)/,
    );
  });

  it("a certificate for another name is refused unless VAULT_TLS_SERVER_NAME names it", async () => {
    const s = await serve(
      await createCertificate(ca, { kind: "server", dns: ["vault.service.consul"] }),
    );
    // Served on 127.0.0.1, which the certificate names: connect by another name to see a mismatch.
    const byName = await open(s, { VAULT_TLS_SERVER_NAME: "vault.service.consul" });
    expect(await byName.decrypt(await byName.encrypt("named"))).toBe("named");
    await expect(open(s, { VAULT_TLS_SERVER_NAME: "vault.elsewhere" })).rejects.toThrow(
      /certificate of Vault does not name the host connected to \(ERR_TLS_CERT_ALTNAME_INVALID/,
    );
  });
});
