/**
 * One contract for every secret store: embedded (PGlite), vault against the transit test server
 * (token and AppRole), and a real Vault when VAULT_ADDR is set (VAULT_TOKEN required).
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import nodeVault from "node-vault";
import {
  EmbeddedSecretStore,
  SecretsError,
  VaultSecretStore,
  generateMasterKey,
  type SecretStore,
} from "@drover/control-plane";
import { startVaultTransitServer, type VaultTransitServer } from "@drover/control-plane/testing";
import { openDatabase, type Database } from "@drover/control-plane/db";

interface Target {
  name: string;
  open(): Promise<SecretStore>;
}

let db: Database;
let server: VaultTransitServer;
const masterKey = Buffer.from(generateMasterKey(), "base64");

beforeAll(async () => {
  db = await openDatabase({});
  server = await startVaultTransitServer({ transitMounts: ["transit"] });
});
afterAll(async () => {
  await server?.close();
  await db?.close();
});

const targets: Target[] = [
  {
    name: "embedded",
    open: () => EmbeddedSecretStore.open({ db, masterKey, keyName: `k-${randomUUID()}` }),
  },
  {
    name: "vault (test server, token)",
    open: () =>
      VaultSecretStore.open({
        addr: server.url,
        token: server.rootToken,
        mount: "transit",
        keyName: `k-${randomUUID()}`,
        batchSize: 100,
      }),
  },
  {
    name: "vault (test server, AppRole)",
    open: () =>
      VaultSecretStore.open({
        addr: server.url,
        appRole: server.addAppRole(),
        mount: "transit",
        keyName: `k-${randomUUID()}`,
      }),
  },
];

if (process.env.VAULT_ADDR) {
  const addr = process.env.VAULT_ADDR;
  const token = process.env.VAULT_TOKEN;
  if (!token) throw new Error("VAULT_ADDR is set: the real-Vault contract run needs VAULT_TOKEN");
  targets.push({
    name: `vault (real, ${addr})`,
    open: async () => {
      const client = nodeVault({ endpoint: addr, token });
      try {
        await client.write("sys/mounts/drover-contract", { type: "transit" });
      } catch (err) {
        if (!/already in use/.test((err as Error).message)) throw err;
      }
      return VaultSecretStore.open({
        addr,
        token,
        mount: "drover-contract",
        keyName: `k-${randomUUID()}`,
      });
    },
  });
}

async function expectCode(p: Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err, `expected ${code}`).toBeInstanceOf(SecretsError);
  expect((err as SecretsError).code).toBe(code);
  if (message) expect((err as SecretsError).message).toMatch(message);
}

describe.each(targets)("secret store contract: $name", (target) => {
  let store: SecretStore;
  beforeAll(async () => {
    store = await target.open();
  });
  afterAll(async () => {
    await store?.close();
  });

  it("round-trips values in Vault's ciphertext format with a fresh nonce each time", async () => {
    const values = ["hunter2-secret", "", 'ünïcødé 🔑 \n\t"quotes"', "x".repeat(65_536)];
    for (const v of values) {
      const c = await store.encrypt(v);
      expect(c).toMatch(/^vault:v1:[A-Za-z0-9+/]+={0,2}$/);
      expect(c).not.toContain(v || "\u0000");
      // nonce (12) | ciphertext (len) | tag (16)
      expect(Buffer.from(c.slice("vault:v1:".length), "base64").length).toBe(
        12 + Buffer.byteLength(v) + 16,
      );
      expect(await store.decrypt(c)).toBe(v);
    }
    const a = await store.encrypt("same");
    const b = await store.encrypt("same");
    expect(a).not.toBe(b);
  });

  it("bulk calls keep input order across several batches", async () => {
    const plain = Array.from({ length: 260 }, (_, i) => `value-${i}-${randomUUID()}`);
    const cipher = await store.encryptMany(plain);
    expect(cipher).toHaveLength(plain.length);
    expect(new Set(cipher).size).toBe(plain.length);
    expect(await store.decryptMany(cipher)).toEqual(plain);
    expect(await store.encryptMany([])).toEqual([]);
  });

  it("rotates: old ciphertexts still decrypt, new ones use the new version, rewrap upgrades", async () => {
    const before = await store.keyInfo();
    expect(before.type).toBe("aes256-gcm96");
    const old = await store.encrypt("rotate-me");
    const oldVersion = Number(/^vault:v(\d+):/.exec(old)![1]);
    expect(oldVersion).toBe(before.latestVersion);

    const after = await store.rotate();
    expect(after.latestVersion).toBe(before.latestVersion + 1);
    expect(Object.keys(after.versions).map(Number)).toContain(after.latestVersion);
    expect(Date.parse(after.versions[after.latestVersion]!)).not.toBeNaN();

    expect(await store.decrypt(old)).toBe("rotate-me");
    const fresh = await store.encrypt("after rotation");
    expect(fresh.startsWith(`vault:v${after.latestVersion}:`)).toBe(true);

    const [rewrapped] = await store.rewrap([old]);
    expect(rewrapped!.startsWith(`vault:v${after.latestVersion}:`)).toBe(true);
    expect(rewrapped).not.toBe(old);
    expect(await store.decrypt(rewrapped!)).toBe("rotate-me");
  });

  it("refuses tampered, malformed and unknown-version ciphertexts", async () => {
    const c = await store.encrypt("do not touch");
    const [prefix, body] = [c.slice(0, c.lastIndexOf(":") + 1), c.slice(c.lastIndexOf(":") + 1)];
    const bytes = Buffer.from(body, "base64");
    bytes[bytes.length - 20]! ^= 0x01;
    await expectCode(
      store.decrypt(prefix + bytes.toString("base64")),
      "DROVER_ERR_SECRETS_CIPHERTEXT",
    );
    await expectCode(store.decrypt("not a ciphertext"), "DROVER_ERR_SECRETS_CIPHERTEXT");
    await expectCode(store.decrypt(`vault:v99:${body}`), "DROVER_ERR_SECRETS_KEY_VERSION");
  });

  it("fails a bulk decrypt as a whole and names the bad item, without echoing plaintext", async () => {
    const good = await store.encryptMany(["plain-one-1234", "plain-two-5678"]);
    const err = await store.decryptMany([good[0]!, "vault:v1:AAAA", good[1]!]).then(
      () => undefined,
      (e: unknown) => e as SecretsError,
    );
    expect(err).toBeInstanceOf(SecretsError);
    expect(err!.code).toBe("DROVER_ERR_SECRETS_CIPHERTEXT");
    expect(err!.message).toMatch(/item 1/);
    const dump = JSON.stringify(err, Object.getOwnPropertyNames(err)) + String(err!.cause ?? "");
    for (const leak of [
      "plain-one-1234",
      "plain-two-5678",
      Buffer.from("plain-one-1234").toString("base64"),
    ]) {
      expect(dump).not.toContain(leak);
    }
  });
});

describe("vault store specifics (test server)", () => {
  it("logs in again with AppRole when its token is revoked", async () => {
    const role = server.addAppRole();
    const store = await VaultSecretStore.open({
      addr: server.url,
      appRole: role,
      mount: "transit",
      keyName: `k-${randomUUID()}`,
    });
    const c = await store.encrypt("survives re-login");
    const token = (store as unknown as { client: { token: string } }).client.token;
    server.revokeToken(token);
    expect(await store.decrypt(c)).toBe("survives re-login");
    expect((store as unknown as { client: { token: string } }).client.token).not.toBe(token);
  });

  it("reports bad credentials as an auth error", async () => {
    await expectCode(
      VaultSecretStore.open({
        addr: server.url,
        token: "hvs.wrong",
        mount: "transit",
        keyName: "k",
      }),
      "DROVER_ERR_SECRETS_VAULT_AUTH",
      /permission denied/,
    );
    await expectCode(
      VaultSecretStore.open({
        addr: server.url,
        appRole: { roleId: "nope", secretId: "nope" },
        mount: "transit",
        keyName: "k",
      }),
      "DROVER_ERR_SECRETS_VAULT_AUTH",
      /invalid role or secret ID/,
    );
  });

  it("reports an unreachable Vault as infrastructure, not as the user's fault", async () => {
    await expectCode(
      VaultSecretStore.open({
        addr: "http://127.0.0.1:1",
        token: "t",
        mount: "transit",
        keyName: "k",
        timeoutMs: 2000,
      }),
      "DROVER_ERR_SECRETS_VAULT",
    );
  });

  it("sends bulk calls as batch_input requests", async () => {
    const keyName = `k-${randomUUID()}`;
    const store = await VaultSecretStore.open({
      addr: server.url,
      token: server.rootToken,
      mount: "transit",
      keyName,
      batchSize: 50,
    });
    const before = server.requests.get(`POST /v1/transit/encrypt/${keyName}`) ?? 0;
    await store.encryptMany(Array.from({ length: 120 }, (_, i) => `v${i}`));
    expect(server.requests.get(`POST /v1/transit/encrypt/${keyName}`)! - before).toBe(3);
  });
});
