import { tlsFailure } from "@drover/tls";
import nodeVault from "node-vault";
import { SecretsError, type SecretsErrorCode } from "./errors.js";
import type { KeyInfo, SecretStore } from "./types.js";

export interface VaultSecretStoreOptions {
  /** `VAULT_ADDR`. */
  addr: string;
  /** `VAULT_TOKEN`; or use `appRole`. */
  token?: string | undefined;
  appRole?: { roleId: string; secretId: string; mount?: string | undefined } | undefined;
  /** `VAULT_NAMESPACE` (Vault Enterprise). */
  namespace?: string | undefined;
  /** Where transit is mounted (default `transit`). */
  mount: string;
  keyName: string;
  /** PEM contents (not paths): CA bundle, client certificate and key for mutual TLS. */
  tls?:
    | {
        ca?: string | string[] | undefined;
        cert?: string | undefined;
        key?: string | undefined;
        skipVerify?: boolean | undefined;
        /** `VAULT_TLS_SERVER_NAME`: the name verified instead of the address's host. */
        servername?: string | undefined;
      }
    | undefined;
  timeoutMs?: number | undefined;
  /** Items per `batch_input` request (Vault caps request bodies at 32 MB). */
  batchSize?: number | undefined;
}

interface VaultResponseError {
  response?: { statusCode: number; body: unknown };
  code?: string;
  message?: string;
}

interface BatchItem {
  ciphertext?: string;
  plaintext?: string;
  error?: string;
}

/**
 * Vault's transit engine through node-vault: key `aes256-gcm96`, plaintext sent base64-encoded,
 * `batch_input` for bulk calls, `rotate` and `rewrap` on Vault's side (plaintext never leaves Vault
 * on rewrap). AppRole tokens are fetched at open and fetched again once when Vault answers 403.
 *
 * Errors never chain Vault's or the HTTP client's error objects: those carry request bodies (base64
 * plaintext) and response bodies (decrypted batch items), which must not reach a log.
 *
 * The Vault policy it needs (mount `transit`, key `drover`):
 *   path "transit/keys/drover"        { capabilities = ["read", "create", "update"] }
 *   path "transit/keys/drover/rotate" { capabilities = ["update"] }
 *   path "transit/encrypt/drover"     { capabilities = ["update"] }
 *   path "transit/decrypt/drover"     { capabilities = ["update"] }
 *   path "transit/rewrap/drover"      { capabilities = ["update"] }
 */
export class VaultSecretStore implements SecretStore {
  readonly kind = "vault";
  private readonly client: nodeVault.client;
  private readonly base: string;
  private readonly batchSize: number;
  private login: Promise<void> | undefined;

  private constructor(private readonly opts: VaultSecretStoreOptions) {
    const tls = opts.tls ?? {};
    this.client = nodeVault({
      endpoint: opts.addr,
      ...(opts.namespace ? { namespace: opts.namespace } : {}),
      requestOptions: {
        ...(tls.ca ? { ca: tls.ca } : {}),
        ...(tls.cert ? { cert: tls.cert } : {}),
        ...(tls.key ? { key: tls.key } : {}),
        ...(tls.skipVerify ? { strictSSL: false } : {}),
        ...(tls.servername ? { agentOptions: { servername: tls.servername } } : {}),
        timeout: opts.timeoutMs ?? 10_000,
      },
    });
    // node-vault falls back to process.env.VAULT_TOKEN: only the configured token may be used.
    this.client.token = opts.token ?? "";
    this.base = `${opts.mount.replace(/^\/+|\/+$/g, "")}`;
    this.batchSize = opts.batchSize ?? 250;
  }

  /** Authenticates, then makes sure the transit key exists (`aes256-gcm96`), creating it if not. */
  static async open(opts: VaultSecretStoreOptions): Promise<VaultSecretStore> {
    if (!opts.token && !opts.appRole) {
      throw new SecretsError(
        "DROVER_ERR_SECRETS_CONFIG",
        "vault secret store needs VAULT_TOKEN or an AppRole (DROVER_VAULT_ROLE_ID and DROVER_VAULT_SECRET_ID)",
      );
    }
    const store = new VaultSecretStore(opts);
    if (opts.appRole) await store.relogin();
    let data: { type?: string } | undefined;
    try {
      data = await store.call<{ type?: string }>("read key", () =>
        store.client.read(`${store.base}/keys/${opts.keyName}`),
      );
    } catch (err) {
      if (!(err instanceof VaultHttpError && err.status === 404)) throw err;
      await store.call("create key", () =>
        store.client.write(`${store.base}/keys/${opts.keyName}`, { type: "aes256-gcm96" }),
      );
      return store;
    }
    if (data?.type !== "aes256-gcm96") {
      throw new SecretsError(
        "DROVER_ERR_SECRETS_CONFIG",
        `transit key '${opts.keyName}' is of type ${String(data?.type)}; Drover needs aes256-gcm96`,
      );
    }
    return store;
  }

  async encrypt(plaintext: string): Promise<string> {
    checkPlaintext(plaintext, 0);
    const data = await this.call<{ ciphertext: string }>("encrypt", () =>
      this.client.write(`${this.base}/encrypt/${this.opts.keyName}`, {
        plaintext: Buffer.from(plaintext, "utf8").toString("base64"),
      }),
    );
    return data.ciphertext;
  }

  async decrypt(ciphertext: string): Promise<string> {
    const data = await this.call<{ plaintext: string }>("decrypt", () =>
      this.client.write(`${this.base}/decrypt/${this.opts.keyName}`, { ciphertext }),
    );
    return Buffer.from(data.plaintext ?? "", "base64").toString("utf8");
  }

  async encryptMany(plaintexts: readonly string[]): Promise<string[]> {
    plaintexts.forEach(checkPlaintext);
    const items = plaintexts.map((p) => ({ plaintext: Buffer.from(p, "utf8").toString("base64") }));
    const out = await this.batch("encrypt", items);
    return out.map((r) => r.ciphertext!);
  }

  async decryptMany(ciphertexts: readonly string[]): Promise<string[]> {
    const out = await this.batch(
      "decrypt",
      ciphertexts.map((ciphertext) => ({ ciphertext })),
    );
    return out.map((r) => Buffer.from(r.plaintext ?? "", "base64").toString("utf8"));
  }

  async rewrap(ciphertexts: readonly string[]): Promise<string[]> {
    const out = await this.batch(
      "rewrap",
      ciphertexts.map((ciphertext) => ({ ciphertext })),
    );
    return out.map((r) => r.ciphertext!);
  }

  async rotate(): Promise<KeyInfo> {
    await this.call("rotate", () =>
      this.client.write(`${this.base}/keys/${this.opts.keyName}/rotate`, {}),
    );
    return this.keyInfo();
  }

  async keyInfo(): Promise<KeyInfo> {
    const data = await this.call<{
      name: string;
      latest_version: number;
      min_decryption_version: number;
      keys: Record<string, number | string>;
    }>("read key", () => this.client.read(`${this.base}/keys/${this.opts.keyName}`));
    const versions: Record<number, string> = {};
    for (const [v, created] of Object.entries(data.keys ?? {})) {
      versions[Number(v)] =
        typeof created === "number" ? new Date(created * 1000).toISOString() : String(created);
    }
    return {
      name: data.name ?? this.opts.keyName,
      type: "aes256-gcm96",
      latestVersion: data.latest_version,
      minDecryptionVersion: data.min_decryption_version,
      versions,
    };
  }

  async close(): Promise<void> {
    this.client.token = "";
  }

  private async batch(
    op: "encrypt" | "decrypt" | "rewrap",
    items: readonly Record<string, string>[],
  ): Promise<BatchItem[]> {
    const out: BatchItem[] = [];
    for (let start = 0; start < items.length; start += this.batchSize) {
      const slice = items.slice(start, start + this.batchSize);
      let results: BatchItem[];
      try {
        const data = await this.call<{ batch_results: BatchItem[] }>(op, () =>
          this.client.write(`${this.base}/${op}/${this.opts.keyName}`, { batch_input: slice }),
        );
        results = data.batch_results;
      } catch (err) {
        // A failed item makes Vault answer 400 with the per-item errors in batch_results.
        const failed = err instanceof BatchFailure ? err.results : undefined;
        if (!failed) throw err;
        results = failed;
      }
      if (!Array.isArray(results) || results.length !== slice.length) {
        throw new SecretsError(
          "DROVER_ERR_SECRETS_VAULT",
          `vault ${op}: expected ${slice.length} batch results, got ${Array.isArray(results) ? results.length : "none"}`,
        );
      }
      results.forEach((r, i) => {
        if (r.error) {
          throw new SecretsError(classify(op, 400, r.error), `item ${start + i}: ${r.error}`);
        }
      });
      out.push(...results);
    }
    return out;
  }

  private async relogin(): Promise<void> {
    const role = this.opts.appRole;
    if (!role) return;
    this.login ??= (async () => {
      try {
        const res = (await this.client.write(`auth/${role.mount ?? "approle"}/login`, {
          role_id: role.roleId,
          secret_id: role.secretId,
        })) as { auth?: { client_token?: string } };
        const token = res.auth?.client_token;
        if (!token) throw new Error("login response has no auth.client_token");
        this.client.token = token;
      } catch (err) {
        throw new SecretsError(
          "DROVER_ERR_SECRETS_VAULT_AUTH",
          `vault AppRole login at auth/${role.mount ?? "approle"} failed: ${describe(err)}`,
        );
      } finally {
        this.login = undefined;
      }
    })();
    return this.login;
  }

  private async call<T>(what: string, fn: () => Promise<unknown>, retried = false): Promise<T> {
    let res: unknown;
    try {
      res = await fn();
    } catch (raw) {
      const err = raw as VaultResponseError;
      const status = err.response?.statusCode;
      if (status === 403 && this.opts.appRole && !retried) {
        await this.relogin();
        return this.call(what, fn, true);
      }
      if (status === 400) {
        const body = err.response?.body as { data?: { batch_results?: BatchItem[] } } | undefined;
        if (Array.isArray(body?.data?.batch_results))
          throw new BatchFailure(body.data.batch_results);
      }
      const message = describe(raw);
      if (status === 401 || status === 403) {
        throw new SecretsError("DROVER_ERR_SECRETS_VAULT_AUTH", `vault ${what}: ${message}`);
      }
      throw new VaultHttpError(
        classify(what, status, message),
        `vault ${what}: ${message}`,
        status,
      );
    }
    const data = (res as { data?: unknown } | undefined)?.data;
    return (data ?? {}) as T;
  }
}

/** A Vault answer other than success, with its HTTP status (undefined: no answer). */
class VaultHttpError extends SecretsError {
  constructor(
    code: SecretsErrorCode,
    message: string,
    readonly status: number | undefined,
  ) {
    super(code, message);
  }
}

/** Internal: a batch call whose per-item errors are reported by the caller. */
class BatchFailure extends Error {
  constructor(readonly results: BatchItem[]) {
    super("batch failed");
  }
}

function checkPlaintext(p: string, index: number): void {
  if (typeof p !== "string") {
    throw new SecretsError("DROVER_ERR_SECRETS_INPUT", `item ${index}: plaintext is not a string`);
  }
}

/** Only status and Vault's error strings: never request or response bodies. */
function describe(raw: unknown): string {
  const err = raw as VaultResponseError;
  const status = err.response?.statusCode;
  if (status !== undefined) {
    const body = err.response?.body as { errors?: unknown } | undefined;
    const errors = Array.isArray(body?.errors) ? body.errors.map(String).join("; ") : "";
    return `HTTP ${status}${errors ? `: ${errors}` : ""}`;
  }
  const tls = tlsFailure(raw, { peer: "Vault", caSetting: "VAULT_CACERT" });
  return tls ? tls.message : `${err.code ?? "error"}: ${err.message ?? String(raw)}`;
}

function classify(what: string, status: number | undefined, message: string): SecretsErrorCode {
  if (status !== 400) return "DROVER_ERR_SECRETS_VAULT";
  if (/not found/.test(message)) return "DROVER_ERR_SECRETS_VAULT";
  if (what === "encrypt" && /plaintext/.test(message)) return "DROVER_ERR_SECRETS_INPUT";
  if (/too new|too old|disallowed|key version|requested version/.test(message)) {
    return "DROVER_ERR_SECRETS_KEY_VERSION";
  }
  if (/invalid ciphertext|authentication failed|decode/.test(message)) {
    return "DROVER_ERR_SECRETS_CIPHERTEXT";
  }
  if (/version/.test(message)) return "DROVER_ERR_SECRETS_KEY_VERSION";
  if (what === "encrypt") return "DROVER_ERR_SECRETS_INPUT";
  if (what === "decrypt" || what === "rewrap") return "DROVER_ERR_SECRETS_CIPHERTEXT";
  return "DROVER_ERR_SECRETS_VAULT";
}
