/**
 * The secret store: envelope encryption for env var and context values. Two implementations,
 * `embedded` (default: AES-256-GCM keyring in the database, sealed by a master key) and `vault`
 * (Vault's transit engine), pass one contract suite (`test/secrets/contract.test.ts`).
 *
 * Ciphertexts are Vault transit strings, `vault:v<N>:<base64(nonce|ciphertext|tag)>`: N is the key
 * version that encrypted the value. Both stores:
 * - encrypt with the latest key version (random 96-bit nonce: equal plaintexts give different
 *   ciphertexts) and decrypt any version from `minDecryptionVersion` up;
 * - `rotate` adds a version; old ciphertexts stay decryptable; `rewrap` re-encrypts them with the
 *   latest version without ever returning plaintext to the caller;
 * - bulk calls return results in input order and fail as a whole if any item fails (the error says
 *   which index);
 * - never put plaintext in an error message or a log line.
 *
 * Lifecycle: build with `createSecretStore` (which verifies the key exists and, for `embedded`, that
 * the master key opens the keyring: a wrong master key fails here, closed), use, then `close`.
 * All methods are safe to call concurrently.
 */
export interface SecretStore {
  readonly kind: "embedded" | "vault";
  encrypt(plaintext: string): Promise<string>;
  decrypt(ciphertext: string): Promise<string>;
  encryptMany(plaintexts: readonly string[]): Promise<string[]>;
  decryptMany(ciphertexts: readonly string[]): Promise<string[]>;
  /** Re-encrypts with the latest key version; the plaintext never leaves the store. */
  rewrap(ciphertexts: readonly string[]): Promise<string[]>;
  /** Adds a key version; new encryptions use it. Returns the key info after rotation. */
  rotate(): Promise<KeyInfo>;
  keyInfo(): Promise<KeyInfo>;
  close(): Promise<void>;
}

export interface KeyInfo {
  name: string;
  type: "aes256-gcm96";
  latestVersion: number;
  minDecryptionVersion: number;
  /** Creation time (ISO-8601) of every version still held. */
  versions: Record<number, string>;
}

const CIPHERTEXT = /^vault:v([1-9][0-9]*):([A-Za-z0-9+/]+={0,2})$/;

/** The key version of a Vault-format ciphertext, or undefined if it is not one. */
export function ciphertextVersion(ciphertext: string): number | undefined {
  const m = CIPHERTEXT.exec(ciphertext);
  return m ? Number(m[1]) : undefined;
}

/** Splits `vault:v<N>:<base64>`; undefined when malformed. */
export function parseCiphertext(ciphertext: string): { version: number; body: Buffer } | undefined {
  const m = CIPHERTEXT.exec(ciphertext);
  if (!m) return undefined;
  return { version: Number(m[1]), body: Buffer.from(m[2]!, "base64") };
}
