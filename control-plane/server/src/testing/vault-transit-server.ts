/**
 * A Vault HTTP API test server for the transit engine, following Vault's documented API: mounts via
 * `/v1/sys/mounts/:path`, keys (`create`, `read`, `list`, `delete`, `config`, `rotate`),
 * `encrypt`/`decrypt`/`rewrap` with `batch_input`, AppRole login, `X-Vault-Token` checks, Vault's
 * ciphertext format (`vault:v<N>:<base64(nonce|ciphertext|tag)>`, real AES-GCM) and error bodies
 * (`{"errors":[...]}` with Vault's status codes). It stands in for Vault where none can run; the
 * secret store contract suite runs against it and against a real Vault when `VAULT_ADDR` is set.
 *
 * Only symmetric keys (`aes256-gcm96`, `aes128-gcm96`) are implemented; asking for another type is
 * a 400 that says so. Listing is `GET ...?list=true` only (node:http does not parse Vault's `LIST`
 * verb; node-vault needs `noCustomHTTPVerbs` for it). State lives in memory and dies with the
 * server.
 */
import { createCipheriv, createDecipheriv, randomBytes, randomUUID } from "node:crypto";
import { createServer as createHttpServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { safeEqual } from "../auth/tokens.js";

export interface VaultTransitServerOptions {
  /** The root token (default: random). */
  rootToken?: string;
  /** Mount paths with transit enabled from the start (default none, like a fresh Vault). */
  transitMounts?: string[];
  /** Serve HTTPS with this PEM key and certificate. */
  tls?: { key: string; cert: string };
  host?: string;
}

export interface AppRole {
  roleId: string;
  secretId: string;
}

export interface VaultTransitServer {
  /** `http://127.0.0.1:<port>` (or https). */
  readonly url: string;
  readonly rootToken: string;
  /** Registers an AppRole whose login tokens live `tokenTtlSeconds` (default 3600). */
  addAppRole(opts?: { tokenTtlSeconds?: number; roleId?: string; secretId?: string }): AppRole;
  /** Revokes a token (as `vault token revoke`): later requests with it get 403. */
  revokeToken(token: string): void;
  /** Requests served, by `METHOD path` (for tests that check batching). */
  readonly requests: ReadonlyMap<string, number>;
  close(): Promise<void>;
}

interface KeyVersion {
  key: Buffer;
  created: number;
}

interface TransitKey {
  name: string;
  type: "aes256-gcm96" | "aes128-gcm96";
  versions: Map<number, KeyVersion>;
  latest: number;
  minDecryption: number;
  minEncryption: number;
  deletionAllowed: boolean;
  exportable: boolean;
}

interface Mount {
  type: "transit";
  description: string;
  keys: Map<string, TransitKey>;
}

interface Token {
  expiresAt: number | undefined;
  policies: string[];
  accessor: string;
}

class VaultError extends Error {
  constructor(
    readonly status: number,
    readonly errors: string[],
  ) {
    super(errors.join("; "));
  }
}

const bad = (msg: string): VaultError => new VaultError(400, [msg]);

interface Reply {
  status: number;
  body?: unknown;
}

export async function startVaultTransitServer(
  opts: VaultTransitServerOptions = {},
): Promise<VaultTransitServer> {
  const rootToken = opts.rootToken ?? `hvs.${randomBytes(18).toString("base64url")}`;
  const tokens = new Map<string, Token>([
    [rootToken, { expiresAt: undefined, policies: ["root"], accessor: randomUUID() }],
  ]);
  const roles = new Map<string, { secretId: string; ttl: number }>();
  const mounts = new Map<string, Mount>();
  const requests = new Map<string, number>();
  for (const m of opts.transitMounts ?? []) {
    mounts.set(trim(m), { type: "transit", description: "", keys: new Map() });
  }

  const envelope = (data: unknown, extra: Record<string, unknown> = {}): unknown => ({
    request_id: randomUUID(),
    lease_id: "",
    renewable: false,
    lease_duration: 0,
    data,
    wrap_info: null,
    warnings: null,
    auth: null,
    ...extra,
  });

  const authenticate = (req: IncomingMessage): void => {
    const header = req.headers["x-vault-token"];
    const bearer = /^Bearer (.+)$/.exec(req.headers.authorization ?? "")?.[1];
    const token = (Array.isArray(header) ? header[0] : header) ?? bearer;
    const entry = token ? tokens.get(token) : undefined;
    if (!entry || (entry.expiresAt !== undefined && entry.expiresAt < Date.now())) {
      throw new VaultError(403, ["permission denied"]);
    }
  };

  const keyInfo = (k: TransitKey): Record<string, unknown> => {
    const keys: Record<string, number> = {};
    for (const [v, kv] of k.versions) keys[String(v)] = kv.created;
    return {
      name: k.name,
      type: k.type,
      keys,
      latest_version: k.latest,
      min_available_version: 0,
      min_decryption_version: k.minDecryption,
      min_encryption_version: k.minEncryption,
      deletion_allowed: k.deletionAllowed,
      derived: false,
      exportable: k.exportable,
      allow_plaintext_backup: false,
      supports_encryption: true,
      supports_decryption: true,
      supports_derivation: true,
      supports_signing: false,
      imported: false,
      auto_rotate_period: 0,
    };
  };

  const newKey = (name: string, type: unknown): TransitKey => {
    const t = type === undefined || type === "" ? "aes256-gcm96" : type;
    if (t !== "aes256-gcm96" && t !== "aes128-gcm96") {
      throw bad(`key type ${String(t)} is not supported by this test server`);
    }
    const k: TransitKey = {
      name,
      type: t,
      versions: new Map(),
      latest: 0,
      minDecryption: 1,
      minEncryption: 0,
      deletionAllowed: false,
      exportable: false,
    };
    addVersion(k);
    return k;
  };

  const addVersion = (k: TransitKey): void => {
    k.latest += 1;
    k.versions.set(k.latest, {
      key: randomBytes(k.type === "aes256-gcm96" ? 32 : 16),
      created: Math.floor(Date.now() / 1000),
    });
  };

  const algorithm = (k: TransitKey): "aes-256-gcm" | "aes-128-gcm" =>
    k.type === "aes256-gcm96" ? "aes-256-gcm" : "aes-128-gcm";

  const encryptWith = (k: TransitKey, plaintextB64: unknown, keyVersion: number): string => {
    if (typeof plaintextB64 !== "string" || !isBase64(plaintextB64)) {
      throw bad("failed to base64-decode plaintext");
    }
    const version = keyVersion === 0 ? k.latest : keyVersion;
    if (keyVersion !== 0 && keyVersion < k.minEncryption) {
      throw bad("requested version for encryption is less than the minimum encryption key version");
    }
    if (version > k.latest) {
      throw bad("requested version for encryption is higher than the latest key version");
    }
    if (version < k.minDecryption) {
      throw bad("requested version for encryption is less than the minimum decryption key version");
    }
    const kv = k.versions.get(version)!;
    const nonce = randomBytes(12);
    const cipher = createCipheriv(algorithm(k), kv.key, nonce);
    const body = Buffer.concat([
      nonce,
      cipher.update(Buffer.from(plaintextB64, "base64")),
      cipher.final(),
      cipher.getAuthTag(),
    ]);
    return `vault:v${version}:${body.toString("base64")}`;
  };

  const decryptWith = (k: TransitKey, ciphertext: unknown): Buffer => {
    if (typeof ciphertext !== "string" || ciphertext === "") {
      throw bad("missing ciphertext to decrypt");
    }
    if (!ciphertext.startsWith("vault:")) throw bad("invalid ciphertext: no prefix");
    const parts = ciphertext.split(":");
    if (parts.length !== 3) throw bad("invalid ciphertext: wrong number of fields");
    const vm = /^v([0-9]+)$/.exec(parts[1]!);
    if (!vm) throw bad("invalid ciphertext: version number could not be decoded");
    const version = Math.max(1, Number(vm[1]));
    if (version > k.latest) throw bad("invalid ciphertext: version is too new");
    if (version < k.minDecryption) {
      throw bad("ciphertext or signature version is disallowed by policy (too old)");
    }
    const kv = k.versions.get(version);
    if (!kv) throw bad("invalid key version");
    if (!isBase64(parts[2]!)) throw bad("invalid ciphertext: could not decode base64");
    const body = Buffer.from(parts[2]!, "base64");
    if (body.length < 12 + 16) throw bad("invalid ciphertext: could not decode base64");
    try {
      const d = createDecipheriv(algorithm(k), kv.key, body.subarray(0, 12));
      d.setAuthTag(body.subarray(body.length - 16));
      return Buffer.concat([d.update(body.subarray(12, body.length - 16)), d.final()]);
    } catch {
      throw bad("cipher: message authentication failed");
    }
  };

  /** Runs one item or a batch the way transit does: per-item errors, 400 when any failed. */
  const perItem = (
    body: Record<string, unknown>,
    single: () => Record<string, unknown>,
    item: (input: Record<string, unknown>) => Record<string, unknown>,
  ): Reply => {
    const batch = body.batch_input;
    if (batch === undefined || batch === null) {
      return { status: 200, body: envelope(single()) };
    }
    if (!Array.isArray(batch)) throw bad("failed to parse batch input: expected an array");
    if (batch.length === 0) throw bad("missing batch input to process");
    let failed = 0;
    const results = batch.map((raw) => {
      const input = (raw ?? {}) as Record<string, unknown>;
      const ref = typeof input.reference === "string" ? { reference: input.reference } : {};
      try {
        return { ...item(input), ...ref };
      } catch (err) {
        if (!(err instanceof VaultError)) throw err;
        failed += 1;
        return { error: err.errors[0] ?? "error", ...ref };
      }
    });
    let status = 200;
    if (failed > 0) {
      const partial = Number(body.partial_failure_response_code ?? 0);
      status = failed < results.length && partial > 0 ? partial : 400;
    }
    return { status, body: envelope({ batch_results: results }) };
  };

  const transit = (
    mount: Mount,
    method: string,
    rest: string[],
    body: Record<string, unknown>,
    list: boolean,
  ): Reply => {
    const [op, name, sub, ...extra] = rest;
    const write = method === "POST" || method === "PUT";
    if (op === "keys" && name === undefined && (method === "LIST" || (method === "GET" && list))) {
      if (mount.keys.size === 0) return { status: 404, body: { errors: [] } };
      return { status: 200, body: envelope({ keys: [...mount.keys.keys()].sort() }) };
    }
    if (op === "keys" && name && extra.length === 0) {
      const key = mount.keys.get(name);
      if (sub === undefined) {
        if (method === "GET") {
          if (!key) return { status: 404, body: { errors: [] } };
          return { status: 200, body: envelope(keyInfo(key)) };
        }
        if (write) {
          if (key) return { status: 200, body: envelope(keyInfo(key)) };
          const k = newKey(name, body.type);
          k.exportable = body.exportable === true;
          mount.keys.set(name, k);
          return { status: 200, body: envelope(keyInfo(k)) };
        }
        if (method === "DELETE") {
          if (!key) return { status: 204 };
          if (!key.deletionAllowed) throw bad("deletion is not allowed for this key");
          mount.keys.delete(name);
          return { status: 204 };
        }
      }
      if (sub === "rotate" && write) {
        if (!key) throw bad("key not found");
        addVersion(key);
        return { status: 200, body: envelope(keyInfo(key)) };
      }
      if (sub === "config" && write) {
        if (!key) throw bad("no existing key named " + name + " could be found");
        const minDec = body.min_decryption_version;
        const minEnc = body.min_encryption_version;
        let dec = key.minDecryption;
        let enc = key.minEncryption;
        if (minDec !== undefined) {
          dec = Number(minDec);
          if (!Number.isInteger(dec)) throw bad("min_decryption_version must be an integer");
          if (dec <= 0) dec = 1;
          if (dec > key.latest) {
            throw bad("cannot set min decryption version higher than the latest key version");
          }
        }
        if (minEnc !== undefined) {
          enc = Number(minEnc);
          if (!Number.isInteger(enc) || enc < 0)
            throw bad("min encryption version must be an integer >= 0");
          if (enc > key.latest) {
            throw bad("cannot set min encryption version higher than the latest key version");
          }
        }
        if (enc !== 0 && enc < dec) {
          throw bad("min encryption version should not be less than min decryption version");
        }
        key.minDecryption = dec;
        key.minEncryption = enc;
        if (body.deletion_allowed !== undefined)
          key.deletionAllowed = body.deletion_allowed === true;
        if (body.exportable === true) key.exportable = true;
        return { status: 200, body: envelope(keyInfo(key)) };
      }
    }
    if (
      write &&
      name &&
      sub === undefined &&
      (op === "encrypt" || op === "decrypt" || op === "rewrap")
    ) {
      const keyVersion = Number(body.key_version ?? 0);
      if (!Number.isInteger(keyVersion) || keyVersion < 0) throw bad("invalid key_version");
      let key = mount.keys.get(name);
      if (op === "encrypt") {
        if (!key) {
          // Upsert: a caller with `create` capability (root here) creates the key on first use.
          key = newKey(name, body.type);
          mount.keys.set(name, key);
        }
        const k = key;
        const one = (input: Record<string, unknown>): Record<string, unknown> => ({
          ciphertext: encryptWith(k, input.plaintext, Number(input.key_version ?? keyVersion)),
          key_version: Number(input.key_version ?? keyVersion) || k.latest,
        });
        return perItem(
          body,
          () => {
            if (body.plaintext === undefined) throw bad("missing plaintext to encrypt");
            return one(body);
          },
          one,
        );
      }
      if (!key) throw bad("encryption key not found");
      const k = key;
      if (op === "decrypt") {
        const one = (input: Record<string, unknown>): Record<string, unknown> => ({
          plaintext: decryptWith(k, input.ciphertext).toString("base64"),
        });
        return perItem(body, () => one(body), one);
      }
      const one = (input: Record<string, unknown>): Record<string, unknown> => {
        const plain = decryptWith(k, input.ciphertext);
        const v = Number(input.key_version ?? keyVersion);
        return {
          ciphertext: encryptWith(k, plain.toString("base64"), v),
          key_version: v || k.latest,
        };
      };
      return perItem(body, () => one(body), one);
    }
    if (["keys", "encrypt", "decrypt", "rewrap"].includes(op ?? "")) {
      throw new VaultError(405, ["1 error occurred:\n\t* unsupported operation\n\n"]);
    }
    throw notFound(rest.join("/"));
  };

  const notFound = (path: string): VaultError =>
    new VaultError(404, [`no handler for route "${path}". route entry not found.`]);

  const handle = (
    method: string,
    path: string,
    body: Record<string, unknown>,
    req: IncomingMessage,
    list: boolean,
  ): Reply => {
    if (!path.startsWith("/v1/")) throw notFound(path);
    const p = path.slice("/v1/".length).replace(/\/+$/, "");
    if (p === "sys/health") {
      return {
        status: 200,
        body: { initialized: true, sealed: false, standby: false, version: "test-transit" },
      };
    }
    if (p === "auth/approle/login" && (method === "POST" || method === "PUT")) {
      const roleId = body.role_id;
      if (typeof roleId !== "string" || roleId === "") throw bad("missing role_id");
      const role = roles.get(roleId);
      const secretId = typeof body.secret_id === "string" ? body.secret_id : "";
      if (!role || !safeEqual(role.secretId, secretId)) throw bad("invalid role or secret ID");
      const token = `hvs.${randomBytes(18).toString("base64url")}`;
      const accessor = randomUUID();
      tokens.set(token, {
        expiresAt: Date.now() + role.ttl * 1000,
        policies: ["default", "drover"],
        accessor,
      });
      return {
        status: 200,
        body: envelope(null, {
          auth: {
            client_token: token,
            accessor,
            policies: ["default", "drover"],
            token_policies: ["default", "drover"],
            metadata: { role_name: roleId },
            lease_duration: role.ttl,
            renewable: true,
            entity_id: "",
            token_type: "service",
            orphan: true,
          },
        }),
      };
    }
    authenticate(req);
    if (p === "sys/mounts" && method === "GET") {
      const data: Record<string, unknown> = {};
      for (const [m, mount] of mounts) {
        data[`${m}/`] = {
          type: mount.type,
          description: mount.description,
          config: {},
          options: null,
        };
      }
      return { status: 200, body: { ...data, ...(envelope(data) as object) } };
    }
    const mountMatch = /^sys\/mounts\/(.+)$/.exec(p);
    if (mountMatch) {
      const m = trim(mountMatch[1]!);
      if (method === "POST" || method === "PUT") {
        if (body.type !== "transit") {
          throw bad(
            `plugin not found in the catalog: ${String(body.type)} (this test server has transit only)`,
          );
        }
        if (mounts.has(m)) throw bad(`path is already in use at ${m}/`);
        mounts.set(m, {
          type: "transit",
          description: typeof body.description === "string" ? body.description : "",
          keys: new Map(),
        });
        return { status: 204 };
      }
      if (method === "DELETE") {
        mounts.delete(m);
        return { status: 204 };
      }
      if (method === "GET") {
        const mount = mounts.get(m);
        if (!mount) throw bad(`no mount found at ${m}/`);
        return {
          status: 200,
          body: envelope({ type: mount.type, description: mount.description }),
        };
      }
    }
    // Longest mount that prefixes the path.
    const candidates = [...mounts.keys()].filter((m) => p === m || p.startsWith(`${m}/`));
    const mount = candidates.sort((a, b) => b.length - a.length)[0];
    if (mount === undefined) throw notFound(p);
    return transit(mounts.get(mount)!, method, p.slice(mount.length + 1).split("/"), body, list);
  };

  const server: Server = (opts.tls ? createHttpsServer(opts.tls) : createHttpServer()) as Server;
  server.on("request", (req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://vault");
      const method = req.method ?? "GET";
      const key = `${method} ${url.pathname}`;
      requests.set(key, (requests.get(key) ?? 0) + 1);
      let reply: Reply;
      try {
        const text = Buffer.concat(chunks).toString("utf8");
        let body: Record<string, unknown> = {};
        if (text.trim() !== "") {
          try {
            const parsed: unknown = JSON.parse(text);
            if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
              body = parsed as Record<string, unknown>;
            } else throw new Error("body is not a JSON object");
          } catch (err) {
            throw bad(`failed to parse JSON input: ${(err as Error).message}`);
          }
        }
        const list =
          url.searchParams.get("list") === "true" || url.searchParams.get("list") === "1";
        reply = handle(method, url.pathname, body, req, list);
      } catch (err) {
        reply =
          err instanceof VaultError
            ? { status: err.status, body: { errors: err.errors } }
            : { status: 500, body: { errors: [`internal error: ${(err as Error).message}`] } };
      }
      if (reply.body === undefined) {
        res.writeHead(reply.status);
        res.end();
        return;
      }
      const out = JSON.stringify(reply.body);
      res.writeHead(reply.status, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(out),
        "cache-control": "no-store",
      });
      res.end(out);
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, opts.host ?? "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  const host = opts.host ?? "127.0.0.1";

  return {
    url: `${opts.tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`,
    rootToken,
    requests,
    addAppRole(o = {}) {
      const roleId = o.roleId ?? randomUUID();
      const secretId = o.secretId ?? randomUUID();
      roles.set(roleId, { secretId, ttl: o.tokenTtlSeconds ?? 3600 });
      return { roleId, secretId };
    },
    revokeToken(token) {
      tokens.delete(token);
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

function trim(path: string): string {
  return path.replace(/^\/+|\/+$/g, "");
}

function isBase64(s: string): boolean {
  return s.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(s);
}
