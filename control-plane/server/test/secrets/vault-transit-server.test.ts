/** The transit test server speaks Vault's documented HTTP API: paths, bodies, status codes. */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { SecretsError } from "@drover/control-plane";
import { VaultSecretStore } from "@drover/control-plane";
import { startVaultTransitServer, type VaultTransitServer } from "@drover/control-plane/testing";

let server: VaultTransitServer;

beforeAll(async () => {
  server = await startVaultTransitServer();
});
afterAll(async () => {
  await server?.close();
});

async function vault(
  method: string,
  path: string,
  body?: unknown,
  token: string | null = server.rootToken,
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- Vault's bodies vary by path
): Promise<{ status: number; body: any }> {
  const res = await fetch(`${server.url}/v1/${path}`, {
    method,
    headers: {
      ...(token ? { "x-vault-token": token } : {}),
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

describe("vault transit test server", () => {
  it("enables transit through sys/mounts, like a fresh Vault", async () => {
    expect((await vault("POST", "transit/keys/k")).status).toBe(404);
    expect((await vault("POST", "sys/mounts/transit", { type: "transit" })).status).toBe(204);
    const again = await vault("POST", "sys/mounts/transit", { type: "transit" });
    expect(again).toEqual({
      status: 400,
      body: { errors: ["path is already in use at transit/"] },
    });
    const mounts = await vault("GET", "sys/mounts");
    expect(mounts.body.data["transit/"].type).toBe("transit");
  });

  it("checks X-Vault-Token and answers 403 permission denied", async () => {
    expect(await vault("GET", "sys/mounts", undefined, null)).toEqual({
      status: 403,
      body: { errors: ["permission denied"] },
    });
    expect((await vault("GET", "sys/mounts", undefined, "hvs.nope")).status).toBe(403);
  });

  it("creates, reads, rotates and configures keys with Vault's fields", async () => {
    expect(await vault("GET", "transit/keys/app")).toEqual({ status: 404, body: { errors: [] } });
    const created = await vault("POST", "transit/keys/app", { type: "aes256-gcm96" });
    expect(created.status).toBe(200);
    expect(created.body.data).toMatchObject({
      name: "app",
      type: "aes256-gcm96",
      latest_version: 1,
      min_decryption_version: 1,
      min_encryption_version: 0,
      supports_encryption: true,
      deletion_allowed: false,
    });
    expect(typeof created.body.data.keys["1"]).toBe("number");
    expect((await vault("POST", "transit/keys/rsa", { type: "rsa-2048" })).status).toBe(400);
    const rotated = await vault("POST", "transit/keys/app/rotate");
    expect(rotated.body.data.latest_version).toBe(2);
    const list = await vault("GET", "transit/keys?list=true");
    expect(list.body.data.keys).toContain("app");
    expect((await vault("DELETE", "transit/keys/app")).body).toEqual({
      errors: ["deletion is not allowed for this key"],
    });
  });

  it("encrypts base64 plaintext, decrypts, rewraps and reports batch item errors", async () => {
    const plaintext = Buffer.from("the quick brown fox").toString("base64");
    const enc = await vault("POST", "transit/encrypt/app", { plaintext });
    expect(enc.body.data.ciphertext).toMatch(/^vault:v2:/);
    expect(enc.body.data.key_version).toBe(2);
    const dec = await vault("POST", "transit/decrypt/app", {
      ciphertext: enc.body.data.ciphertext,
    });
    expect(dec.body.data.plaintext).toBe(plaintext);
    expect((await vault("POST", "transit/encrypt/app", { plaintext: "not base64!" })).body).toEqual(
      { errors: ["failed to base64-decode plaintext"] },
    );
    expect((await vault("POST", "transit/decrypt/app", { ciphertext: "nope" })).body).toEqual({
      errors: ["invalid ciphertext: no prefix"],
    });
    expect(
      (await vault("POST", "transit/decrypt/missing", { ciphertext: "vault:v1:AAAA" })).body,
    ).toEqual({
      errors: ["encryption key not found"],
    });

    const batch = await vault("POST", "transit/decrypt/app", {
      batch_input: [
        { ciphertext: enc.body.data.ciphertext, reference: "a" },
        { ciphertext: "vault:v9:AAAA", reference: "b" },
      ],
    });
    expect(batch.status).toBe(400);
    expect(batch.body.data.batch_results).toEqual([
      { plaintext, reference: "a" },
      { error: "invalid ciphertext: version is too new", reference: "b" },
    ]);
    const partial = await vault("POST", "transit/decrypt/app", {
      batch_input: [{ ciphertext: enc.body.data.ciphertext }, { ciphertext: "x" }],
      partial_failure_response_code: 207,
    });
    expect(partial.status).toBe(207);

    const v1 = await vault("POST", "transit/encrypt/app", { plaintext, key_version: 1 });
    expect(v1.body.data.ciphertext).toMatch(/^vault:v1:/);
    const rewrapped = await vault("POST", "transit/rewrap/app", {
      ciphertext: v1.body.data.ciphertext,
    });
    expect(rewrapped.body.data.ciphertext).toMatch(/^vault:v2:/);
  });

  it("min_decryption_version makes old ciphertexts undecryptable, which the store reports", async () => {
    const store = await VaultSecretStore.open({
      addr: server.url,
      token: server.rootToken,
      mount: "transit",
      keyName: "policy",
    });
    const old = await store.encrypt("old value");
    await store.rotate();
    const cfg = await vault("POST", "transit/keys/policy/config", { min_decryption_version: 2 });
    expect(cfg.body.data.min_decryption_version).toBe(2);
    const err = await store.decrypt(old).then(
      () => undefined,
      (e: unknown) => e as SecretsError,
    );
    expect(err?.code).toBe("DROVER_ERR_SECRETS_KEY_VERSION");
    expect(err?.message).toMatch(/too old/);
    expect((await store.keyInfo()).minDecryptionVersion).toBe(2);
  });

  it("logs AppRoles in and refuses bad secret ids", async () => {
    const role = server.addAppRole({ tokenTtlSeconds: 60 });
    const ok = await vault(
      "POST",
      "auth/approle/login",
      { role_id: role.roleId, secret_id: role.secretId },
      null,
    );
    expect(ok.body.auth).toMatchObject({ lease_duration: 60, renewable: true });
    expect(
      (await vault("GET", "transit/keys/app", undefined, ok.body.auth.client_token)).status,
    ).toBe(200);
    const bad = await vault(
      "POST",
      "auth/approle/login",
      { role_id: role.roleId, secret_id: "x" },
      null,
    );
    expect(bad).toEqual({ status: 400, body: { errors: ["invalid role or secret ID"] } });
    expect((await vault("GET", "no/such/path")).status).toBe(404);
  });
});
