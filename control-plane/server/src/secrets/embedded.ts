import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createSecretKey,
  randomBytes,
  randomFillSync,
  timingSafeEqual,
  type KeyObject,
} from "node:crypto";
import type { Database, Queryable } from "../db/types.js";
import { SecretsError } from "./errors.js";
import { parseCiphertext, type KeyInfo, type SecretStore } from "./types.js";

const NONCE = 12;
const TAG = 16;
const SEAL_PREFIX = "drover-keyring:v1:";

interface KeyringVersion {
  key: string;
  createdAt: string;
}

/** The keyring as sealed in `secret_keyrings.sealed`. */
interface Keyring {
  format: "drover-keyring";
  name: string;
  latestVersion: number;
  minDecryptionVersion: number;
  versions: Record<string, KeyringVersion>;
}

interface LoadedKeyring {
  info: KeyInfo;
  keys: Map<number, KeyObject>;
}

export interface EmbeddedSecretStoreOptions {
  db: Database;
  /** 32 bytes; see `loadMasterKey`. */
  masterKey: Buffer;
  /** Key name (one keyring per name). */
  keyName: string;
}

/**
 * AES-256-GCM with a random 96-bit nonce per value and versioned data keys; the keyring lives in
 * the database sealed by the master key, so a database dump alone decrypts nothing. Writes the same
 * ciphertext format as Vault transit.
 */
export class EmbeddedSecretStore implements SecretStore {
  readonly kind = "embedded";
  private readonly db: Database;
  private readonly master: KeyObject;
  private readonly check: string;
  private readonly name: string;
  private ring: LoadedKeyring;
  private noncePool = Buffer.alloc(0);
  private nonceOffset = 0;

  private constructor(opts: EmbeddedSecretStoreOptions, ring: LoadedKeyring) {
    this.db = opts.db;
    this.master = createSecretKey(opts.masterKey);
    this.check = masterKeyCheck(opts.masterKey);
    this.name = opts.keyName;
    this.ring = ring;
  }

  /** Opens the keyring (creating it with version 1 on first use); a wrong master key throws. */
  static async open(opts: EmbeddedSecretStoreOptions): Promise<EmbeddedSecretStore> {
    if (opts.masterKey.length !== 32) {
      throw new SecretsError(
        "DROVER_ERR_SECRETS_MASTER_KEY_MISSING",
        "master key must be 32 bytes",
      );
    }
    const master = createSecretKey(opts.masterKey);
    const check = masterKeyCheck(opts.masterKey);
    const now = new Date().toISOString();
    const fresh: Keyring = {
      format: "drover-keyring",
      name: opts.keyName,
      latestVersion: 1,
      minDecryptionVersion: 1,
      versions: { "1": { key: randomBytes(32).toString("base64"), createdAt: now } },
    };
    await opts.db.query(
      `INSERT INTO secret_keyrings (name, sealed, master_key_check) VALUES ($1, $2, $3)
       ON CONFLICT (name) DO NOTHING`,
      [opts.keyName, seal(master, fresh), check],
    );
    const ring = await readKeyring(opts.db, opts.keyName, master, check, false);
    return new EmbeddedSecretStore(opts, ring);
  }

  async encrypt(plaintext: string): Promise<string> {
    return this.encryptOne(plaintext, 0);
  }

  async encryptMany(plaintexts: readonly string[]): Promise<string[]> {
    return plaintexts.map((p, i) => this.encryptOne(p, i));
  }

  async decrypt(ciphertext: string): Promise<string> {
    return (await this.decryptMany([ciphertext]))[0]!;
  }

  async decryptMany(ciphertexts: readonly string[]): Promise<string[]> {
    if (ciphertexts.some((c) => prefixVersion(c) > this.ring.info.latestVersion)) {
      await this.reload(); // another instance may have rotated
    }
    return ciphertexts.map((c, i) => this.decryptOne(c, i));
  }

  async rewrap(ciphertexts: readonly string[]): Promise<string[]> {
    await this.reload();
    return ciphertexts.map((c, i) => this.encryptOne(this.decryptOne(c, i), i));
  }

  async rotate(): Promise<KeyInfo> {
    this.ring = await this.db.transaction(async (tx) => {
      const raw = openSealed(
        this.master,
        await sealedRow(tx, this.name, this.check, true),
        this.name,
      );
      const next = raw.latestVersion + 1;
      raw.versions[String(next)] = {
        key: randomBytes(32).toString("base64"),
        createdAt: new Date().toISOString(),
      };
      raw.latestVersion = next;
      await tx.query("UPDATE secret_keyrings SET sealed = $2, updated_at = now() WHERE name = $1", [
        this.name,
        seal(this.master, raw),
      ]);
      return load(raw);
    });
    return this.keyInfo();
  }

  async keyInfo(): Promise<KeyInfo> {
    await this.reload();
    const i = this.ring.info;
    return { ...i, versions: { ...i.versions } };
  }

  async close(): Promise<void> {
    // The database belongs to the caller.
  }

  /** A fresh random 96-bit nonce, cut from a CSPRNG-filled pool (one syscall per 1,024 nonces). */
  private nonce(): Buffer {
    if (this.nonceOffset + NONCE > this.noncePool.length) {
      this.noncePool = randomFillSync(Buffer.allocUnsafe(NONCE * 1024));
      this.nonceOffset = 0;
    }
    const n = this.noncePool.subarray(this.nonceOffset, this.nonceOffset + NONCE);
    this.nonceOffset += NONCE;
    return n;
  }

  private async reload(): Promise<void> {
    this.ring = await readKeyring(this.db, this.name, this.master, this.check, false);
  }

  private encryptOne(plaintext: string, index: number): string {
    if (typeof plaintext !== "string") {
      throw new SecretsError(
        "DROVER_ERR_SECRETS_INPUT",
        `item ${index}: plaintext is not a string`,
      );
    }
    const version = this.ring.info.latestVersion;
    const key = this.ring.keys.get(version)!;
    const nonce = this.nonce();
    const cipher = createCipheriv("aes-256-gcm", key, nonce);
    const ct = cipher.update(plaintext, "utf8");
    cipher.final(); // GCM is a stream mode: final() emits nothing, it computes the tag
    const body = Buffer.allocUnsafe(NONCE + ct.length + TAG);
    nonce.copy(body, 0);
    ct.copy(body, NONCE);
    cipher.getAuthTag().copy(body, NONCE + ct.length);
    return `vault:v${version}:${body.toString("base64")}`;
  }

  private decryptOne(ciphertext: string, index: number): string {
    const parsed = typeof ciphertext === "string" ? parseCiphertext(ciphertext) : undefined;
    if (!parsed || parsed.body.length < NONCE + TAG) {
      throw new SecretsError(
        "DROVER_ERR_SECRETS_CIPHERTEXT",
        `item ${index}: not a ciphertext (expected vault:v<N>:<base64>)`,
      );
    }
    const { version, body } = parsed;
    if (version < this.ring.info.minDecryptionVersion) {
      throw new SecretsError(
        "DROVER_ERR_SECRETS_KEY_VERSION",
        `item ${index}: key version ${version} is below the minimum decryption version ${this.ring.info.minDecryptionVersion}`,
      );
    }
    const key = this.ring.keys.get(version);
    if (!key) {
      throw new SecretsError(
        "DROVER_ERR_SECRETS_KEY_VERSION",
        `item ${index}: key '${this.name}' has no version ${version} (latest is ${this.ring.info.latestVersion})`,
      );
    }
    try {
      const decipher = createDecipheriv("aes-256-gcm", key, body.subarray(0, NONCE));
      decipher.setAuthTag(body.subarray(body.length - TAG));
      return Buffer.concat([
        decipher.update(body.subarray(NONCE, body.length - TAG)),
        decipher.final(),
      ]).toString("utf8");
    } catch (err) {
      throw new SecretsError(
        "DROVER_ERR_SECRETS_CIPHERTEXT",
        `item ${index}: ciphertext failed authentication (tampered, or from another key)`,
        { cause: err },
      );
    }
  }
}

/** The N of `vault:vN:...` without decoding anything (0 when absent); full checks come later. */
function prefixVersion(c: string): number {
  if (typeof c !== "string" || !c.startsWith("vault:v")) return 0;
  const end = c.indexOf(":", 7);
  return end > 7 ? Number(c.slice(7, end)) || 0 : 0;
}

function masterKeyCheck(masterKey: Buffer): string {
  return createHmac("sha256", masterKey).update("drover master key check v1").digest("base64");
}

async function sealedRow(
  q: Queryable,
  name: string,
  check: string,
  forUpdate: boolean,
): Promise<string> {
  const { rows } = await q.query<{ sealed: string; master_key_check: string }>(
    `SELECT sealed, master_key_check FROM secret_keyrings WHERE name = $1${forUpdate ? " FOR UPDATE" : ""}`,
    [name],
  );
  const row = rows[0];
  if (!row) {
    throw new SecretsError("DROVER_ERR_SECRETS_KEYRING_CORRUPT", `keyring '${name}' is missing`);
  }
  const a = Buffer.from(row.master_key_check);
  const b = Buffer.from(check);
  if (a.length !== b.length || !timingSafeEqual(a, b)) {
    throw new SecretsError(
      "DROVER_ERR_SECRETS_MASTER_KEY_WRONG",
      `the master key does not open keyring '${name}': DROVER_MASTER_KEY (or its file) is not the key this keyring was sealed with; nothing can be decrypted until the right key is configured`,
    );
  }
  return row.sealed;
}

async function readKeyring(
  q: Queryable,
  name: string,
  master: KeyObject,
  check: string,
  forUpdate: boolean,
): Promise<LoadedKeyring> {
  return load(openSealed(master, await sealedRow(q, name, check, forUpdate), name));
}

function seal(master: KeyObject, ring: Keyring): string {
  const nonce = randomBytes(NONCE);
  const cipher = createCipheriv("aes-256-gcm", master, nonce);
  cipher.setAAD(Buffer.from(`drover-keyring:${ring.name}`));
  const body = Buffer.concat([
    nonce,
    cipher.update(JSON.stringify(ring), "utf8"),
    cipher.final(),
    cipher.getAuthTag(),
  ]);
  return SEAL_PREFIX + body.toString("base64");
}

function openSealed(master: KeyObject, sealed: string, name: string): Keyring {
  const corrupt = (why: string, cause?: unknown): SecretsError =>
    new SecretsError("DROVER_ERR_SECRETS_KEYRING_CORRUPT", `keyring '${name}': ${why}`, { cause });
  if (!sealed.startsWith(SEAL_PREFIX)) throw corrupt("unknown sealing format");
  const body = Buffer.from(sealed.slice(SEAL_PREFIX.length), "base64");
  if (body.length < NONCE + TAG) throw corrupt("sealed keyring is truncated");
  let json: string;
  try {
    const decipher = createDecipheriv("aes-256-gcm", master, body.subarray(0, NONCE));
    decipher.setAAD(Buffer.from(`drover-keyring:${name}`));
    decipher.setAuthTag(body.subarray(body.length - TAG));
    json = Buffer.concat([
      decipher.update(body.subarray(NONCE, body.length - TAG)),
      decipher.final(),
    ]).toString("utf8");
  } catch (err) {
    throw corrupt("sealed keyring failed authentication (damaged or altered)", err);
  }
  const ring = JSON.parse(json) as Keyring;
  if (ring.format !== "drover-keyring" || ring.name !== name || !ring.versions) {
    throw corrupt("not a Drover keyring");
  }
  return ring;
}

function load(ring: Keyring): LoadedKeyring {
  const keys = new Map<number, KeyObject>();
  const versions: Record<number, string> = {};
  for (const [v, entry] of Object.entries(ring.versions)) {
    if (Number(v) < ring.minDecryptionVersion) continue;
    keys.set(Number(v), createSecretKey(Buffer.from(entry.key, "base64")));
    versions[Number(v)] = entry.createdAt;
  }
  return {
    keys,
    info: {
      name: ring.name,
      type: "aes256-gcm96",
      latestVersion: ring.latestVersion,
      minDecryptionVersion: ring.minDecryptionVersion,
      versions,
    },
  };
}
