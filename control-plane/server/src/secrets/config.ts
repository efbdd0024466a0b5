import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { z } from "zod";
import type { Database } from "../db/types.js";
import { EmbeddedSecretStore } from "./embedded.js";
import { SecretsError } from "./errors.js";
import { loadMasterKey } from "./master-key.js";
import type { SecretStore } from "./types.js";
import { VaultSecretStore } from "./vault.js";

const keyName = z
  .string()
  .regex(/^[A-Za-z0-9_.-]+$/)
  .default("drover");

export const secretStoreConfigSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("embedded"),
    keyName,
    /** `DROVER_MASTER_KEY`: 32 bytes as base64 or hex. */
    masterKey: z.string().optional(),
    /** `DROVER_MASTER_KEY_FILE`: a 0600 file holding the key. */
    masterKeyFile: z.string().optional(),
    /** Create `masterKeyFile` with a new key when missing (single-machine `drover up`). */
    createMasterKeyFile: z.boolean().default(false),
  }),
  z
    .object({
      kind: z.literal("vault"),
      /** `VAULT_ADDR`. */
      addr: z.string().url(),
      /** `VAULT_TOKEN`. */
      token: z.string().min(1).optional(),
      /** `DROVER_VAULT_ROLE_ID` / `DROVER_VAULT_SECRET_ID`: AppRole instead of a token. */
      roleId: z.string().min(1).optional(),
      secretId: z.string().min(1).optional(),
      /** `DROVER_VAULT_APPROLE_MOUNT` (default `approle`). */
      appRoleMount: z.string().default("approle"),
      /** `VAULT_NAMESPACE`. */
      namespace: z.string().optional(),
      /** `DROVER_VAULT_TRANSIT_MOUNT` (default `transit`). */
      mount: z.string().default("transit"),
      /** `DROVER_VAULT_TRANSIT_KEY` (default `drover`). */
      keyName,
      /** `VAULT_CACERT` (a PEM file) and `VAULT_CAPATH` (a directory of PEM files). */
      caCert: z.string().optional(),
      caPath: z.string().optional(),
      /** `VAULT_CLIENT_CERT` / `VAULT_CLIENT_KEY`: mutual TLS. */
      clientCert: z.string().optional(),
      clientKey: z.string().optional(),
      /** `VAULT_SKIP_VERIFY`: only for loopback experiments. */
      skipVerify: z.boolean().default(false),
      timeoutMs: z.number().int().positive().default(10_000),
    })
    .superRefine((c, ctx) => {
      if (!c.token && !(c.roleId && c.secretId)) {
        ctx.addIssue({
          code: "custom",
          message: "vault needs VAULT_TOKEN, or DROVER_VAULT_ROLE_ID with DROVER_VAULT_SECRET_ID",
          path: ["token"],
        });
      }
      if (Boolean(c.clientCert) !== Boolean(c.clientKey)) {
        ctx.addIssue({
          code: "custom",
          message: "VAULT_CLIENT_CERT and VAULT_CLIENT_KEY go together",
          path: ["clientCert"],
        });
      }
    }),
]);
export type SecretStoreConfig = z.infer<typeof secretStoreConfigSchema>;

const truthy = (v: string | undefined): boolean =>
  v !== undefined && v !== "" && v !== "0" && v.toLowerCase() !== "false";

/**
 * The secret store configuration from the environment: `vault` when `VAULT_ADDR` is set (or
 * `DROVER_SECRET_STORE=vault`), else `embedded` with the master key from `DROVER_MASTER_KEY` or
 * `DROVER_MASTER_KEY_FILE` (default `<dataDir>/master.key`, created 0600 on first start).
 */
export function secretStoreConfigFromEnv(
  env: Record<string, string | undefined>,
  defaults: { dataDir?: string } = {},
): SecretStoreConfig {
  const kind = env.DROVER_SECRET_STORE ?? (env.VAULT_ADDR ? "vault" : "embedded");
  const raw =
    kind === "vault"
      ? {
          kind,
          addr: env.VAULT_ADDR,
          token: env.VAULT_TOKEN || undefined,
          roleId: env.DROVER_VAULT_ROLE_ID || undefined,
          secretId: env.DROVER_VAULT_SECRET_ID || undefined,
          appRoleMount: env.DROVER_VAULT_APPROLE_MOUNT || undefined,
          namespace: env.VAULT_NAMESPACE || undefined,
          mount: env.DROVER_VAULT_TRANSIT_MOUNT || undefined,
          keyName: env.DROVER_VAULT_TRANSIT_KEY || undefined,
          caCert: env.VAULT_CACERT || undefined,
          caPath: env.VAULT_CAPATH || undefined,
          clientCert: env.VAULT_CLIENT_CERT || undefined,
          clientKey: env.VAULT_CLIENT_KEY || undefined,
          skipVerify: truthy(env.VAULT_SKIP_VERIFY),
        }
      : {
          kind,
          keyName: env.DROVER_SECRET_KEY_NAME || undefined,
          masterKey: env.DROVER_MASTER_KEY || undefined,
          masterKeyFile:
            env.DROVER_MASTER_KEY_FILE ||
            (defaults.dataDir ? join(defaults.dataDir, "master.key") : undefined),
          createMasterKeyFile: !env.DROVER_MASTER_KEY_FILE && Boolean(defaults.dataDir),
        };
  const parsed = secretStoreConfigSchema.safeParse(raw);
  if (!parsed.success) {
    throw new SecretsError(
      "DROVER_ERR_SECRETS_CONFIG",
      `secret store configuration: ${parsed.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`,
    );
  }
  return parsed.data;
}

/** Builds the configured store; fails closed (wrong master key, Vault unreachable, bad TLS files). */
export async function createSecretStore(
  config: SecretStoreConfig,
  deps: { db: Database },
): Promise<SecretStore> {
  if (config.kind === "embedded") {
    const masterKey = await loadMasterKey({
      value: config.masterKey,
      file: config.masterKeyFile,
      createIfMissing: config.createMasterKeyFile,
    });
    return EmbeddedSecretStore.open({ db: deps.db, masterKey, keyName: config.keyName });
  }
  const ca: string[] = [];
  if (config.caCert) ca.push(await readPem(config.caCert, "VAULT_CACERT"));
  if (config.caPath) {
    for (const f of (await readdir(config.caPath)).filter((n) => /\.(pem|crt)$/.test(n)).sort()) {
      ca.push(await readPem(join(config.caPath, f), "VAULT_CAPATH"));
    }
  }
  return VaultSecretStore.open({
    addr: config.addr,
    token: config.token,
    appRole:
      config.roleId && config.secretId
        ? { roleId: config.roleId, secretId: config.secretId, mount: config.appRoleMount }
        : undefined,
    namespace: config.namespace,
    mount: config.mount,
    keyName: config.keyName,
    tls: {
      ca: ca.length > 0 ? ca : undefined,
      cert: config.clientCert ? await readPem(config.clientCert, "VAULT_CLIENT_CERT") : undefined,
      key: config.clientKey ? await readPem(config.clientKey, "VAULT_CLIENT_KEY") : undefined,
      skipVerify: config.skipVerify,
    },
    timeoutMs: config.timeoutMs,
  });
}

async function readPem(path: string, what: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    throw new SecretsError("DROVER_ERR_SECRETS_CONFIG", `${what}: cannot read ${path}`, {
      cause: err,
    });
  }
}
