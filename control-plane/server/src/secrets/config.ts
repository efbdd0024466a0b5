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

/** The secret store (`loadConfig` builds it from the environment, naming variables). */
export const secretStoreConfigSchema = z.discriminatedUnion("kind", [
  z.object({
    kind: z.literal("embedded"),
    keyName,
    /** 32 bytes as base64 or hex; wins over `masterKeyFile`. */
    masterKey: z.string().optional(),
    /** A 0600 file holding the key. */
    masterKeyFile: z.string().optional(),
    /** Create `masterKeyFile` with a new key when missing (single-machine `drover up`). */
    createMasterKeyFile: z.boolean().default(false),
  }),
  z
    .object({
      kind: z.literal("vault"),
      addr: z.string().url(),
      token: z.string().min(1).optional(),
      /** AppRole instead of a token. */
      roleId: z.string().min(1).optional(),
      secretId: z.string().min(1).optional(),
      appRoleMount: z.string().default("approle"),
      namespace: z.string().optional(),
      /** The transit engine's mount and key. */
      mount: z.string().default("transit"),
      keyName,
      /** A CA PEM file and a directory of CA PEM files. */
      caCert: z.string().optional(),
      caPath: z.string().optional(),
      /** PEM files for mutual TLS. */
      clientCert: z.string().optional(),
      clientKey: z.string().optional(),
      /** Only for loopback experiments. */
      skipVerify: z.boolean().default(false),
      /** Name to verify on Vault's certificate instead of VAULT_ADDR's host. */
      tlsServerName: z.string().min(1).optional(),
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
      servername: config.tlsServerName,
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
