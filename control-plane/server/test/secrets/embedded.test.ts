import { randomUUID } from "node:crypto";
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EmbeddedSecretStore,
  SecretsError,
  createSecretStore,
  generateMasterKey,
  loadMasterKey,
  secretStoreConfigFromEnv,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import { testDatabases } from "../helpers/databases.js";

const dbs = await testDatabases();

async function codeOf(p: Promise<unknown>): Promise<string | undefined> {
  return p.then(
    () => undefined,
    (e: unknown) => (e instanceof SecretsError ? e.code : `not a SecretsError: ${String(e)}`),
  );
}

describe.each(dbs)("embedded keyring on $name", (target) => {
  let db: Database;
  beforeAll(async () => {
    db = await target.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("fails closed with a clear error when the master key is wrong", async () => {
    const keyName = `k-${randomUUID()}`;
    const right = Buffer.from(generateMasterKey(), "base64");
    const store = await EmbeddedSecretStore.open({ db, masterKey: right, keyName });
    const c = await store.encrypt("guarded");
    const wrong = Buffer.from(generateMasterKey(), "base64");
    const err = await EmbeddedSecretStore.open({ db, masterKey: wrong, keyName }).then(
      () => undefined,
      (e: unknown) => e as SecretsError,
    );
    expect(err?.code).toBe("DROVER_ERR_SECRETS_MASTER_KEY_WRONG");
    expect(err?.message).toMatch(/DROVER_MASTER_KEY/);
    // The right key still works: nothing was overwritten by the failed open.
    const again = await EmbeddedSecretStore.open({ db, masterKey: right, keyName });
    expect(await again.decrypt(c)).toBe("guarded");
  });

  it("detects a damaged keyring apart from a wrong key", async () => {
    const keyName = `k-${randomUUID()}`;
    const key = Buffer.from(generateMasterKey(), "base64");
    await EmbeddedSecretStore.open({ db, masterKey: key, keyName });
    const { rows } = await db.query<{ sealed: string }>(
      "SELECT sealed FROM secret_keyrings WHERE name = $1",
      [keyName],
    );
    const sealed = rows[0]!.sealed;
    const flipped = sealed.slice(0, -6) + (sealed.at(-6) === "A" ? "B" : "A") + sealed.slice(-5);
    await db.query("UPDATE secret_keyrings SET sealed = $2 WHERE name = $1", [keyName, flipped]);
    expect(await codeOf(EmbeddedSecretStore.open({ db, masterKey: key, keyName }))).toBe(
      "DROVER_ERR_SECRETS_KEYRING_CORRUPT",
    );
  });

  it("a rotation by one instance is seen by another on the same database", async () => {
    const keyName = `k-${randomUUID()}`;
    const key = Buffer.from(generateMasterKey(), "base64");
    const a = await EmbeddedSecretStore.open({ db, masterKey: key, keyName });
    const b = await EmbeddedSecretStore.open({ db, masterKey: key, keyName });
    const v1 = await a.encrypt("one");
    await a.rotate();
    const v2 = await a.encrypt("two");
    expect(v2.startsWith("vault:v2:")).toBe(true);
    expect(await b.decryptMany([v1, v2])).toEqual(["one", "two"]);
    expect((await b.keyInfo()).latestVersion).toBe(2);
  });

  it("never stores a data key in the clear", async () => {
    const keyName = `k-${randomUUID()}`;
    await EmbeddedSecretStore.open({
      db,
      masterKey: Buffer.from(generateMasterKey(), "base64"),
      keyName,
    });
    const { rows } = await db.query<{ sealed: string }>(
      "SELECT sealed FROM secret_keyrings WHERE name = $1",
      [keyName],
    );
    expect(rows[0]!.sealed).toMatch(/^drover-keyring:v1:[A-Za-z0-9+/=]+$/);
    expect(rows[0]!.sealed).not.toContain("versions");
  });
});

describe("master key sources", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-mk-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("accepts base64 and hex and rejects anything else", async () => {
    const b64 = generateMasterKey();
    expect((await loadMasterKey({ value: b64 })).toString("base64")).toBe(b64);
    const hex = Buffer.from(b64, "base64").toString("hex");
    expect((await loadMasterKey({ value: hex })).toString("base64")).toBe(b64);
    expect(await codeOf(loadMasterKey({ value: "too-short" }))).toBe(
      "DROVER_ERR_SECRETS_MASTER_KEY_MISSING",
    );
    expect(await codeOf(loadMasterKey({}))).toBe("DROVER_ERR_SECRETS_MASTER_KEY_MISSING");
  });

  it("requires the key file to be 0600 and creates it so when asked", async () => {
    const file = join(dir, `${randomUUID()}.key`);
    const created = await loadMasterKey({ file, createIfMissing: true });
    expect(created).toHaveLength(32);
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await loadMasterKey({ file })).equals(created)).toBe(true);

    const loose = join(dir, `${randomUUID()}.key`);
    await writeFile(loose, generateMasterKey());
    await chmod(loose, 0o644);
    expect(await codeOf(loadMasterKey({ file: loose }))).toBe(
      "DROVER_ERR_SECRETS_MASTER_KEY_FILE_MODE",
    );
    expect(await codeOf(loadMasterKey({ file: join(dir, "missing.key") }))).toBe(
      "DROVER_ERR_SECRETS_MASTER_KEY_MISSING",
    );
  });

  it("builds the configured store from the environment", async () => {
    expect(secretStoreConfigFromEnv({}, { dataDir: dir })).toMatchObject({
      kind: "embedded",
      masterKeyFile: join(dir, "master.key"),
      createMasterKeyFile: true,
    });
    expect(
      secretStoreConfigFromEnv({ VAULT_ADDR: "https://127.0.0.1:8200", VAULT_TOKEN: "t" }),
    ).toMatchObject({ kind: "vault", mount: "transit", keyName: "drover", token: "t" });
    expect(() => secretStoreConfigFromEnv({ VAULT_ADDR: "https://127.0.0.1:8200" })).toThrow(
      /VAULT_TOKEN/,
    );
    const db = await dbs[0]!.open();
    try {
      const store = await createSecretStore(secretStoreConfigFromEnv({}, { dataDir: dir }), { db });
      expect(store.kind).toBe("embedded");
      expect(await store.decrypt(await store.encrypt("from env"))).toBe("from env");
      expect((await readFile(join(dir, "master.key"), "utf8")).trim()).toHaveLength(44);
    } finally {
      await db.close();
    }
  });
});
