import { join, resolve } from "node:path";
import type { z } from "zod";
import {
  jobSpecConfigSchema,
  nomadConfigSchema,
  type JobSpecConfig,
  type NomadConfig,
} from "@drover/nomad-jobs";
import type { FieldIssue } from "../errors/index.js";
import { secretStoreConfigSchema, type SecretStoreConfig } from "../secrets/config.js";
import { failConfig, issuesOf, parseEnv, type DroverEnv, type EnvName } from "./env.js";
import { serverConfigOf, type ServerConfig } from "./server-config.js";

/** Nomad settings of the scheduler backend. */
export interface NomadSettings {
  client: NomadConfig;
  jobSpec: JobSpecConfig;
  /** Base of the Nomad UI links operators see. */
  uiAddress: string;
}

/** Everything `drover up` runs on, parsed once from the environment. */
/** Where machines come from: a running vm-service, one embedded in `drover up`, or none. */
export type VmSettings =
  | { mode: "remote"; url: string; serviceToken: string }
  | { mode: "embedded"; port: number }
  | { mode: "off" };

export interface DroverConfig {
  /** The composition root's options (`startControlPlane`). */
  server: ServerConfig;
  /** The secret store (`createSecretStore`). */
  secretStore: SecretStoreConfig;
  /** The Nomad scheduler, when `NOMAD_ADDR` is set; null: local agents. */
  nomad: NomadSettings | null;
  /** vm-service for machine jobs. */
  vm: VmSettings;
  /** The root logger's level. */
  logLevel: DroverEnv["DROVER_LOG_LEVEL"];
}

/**
 * Parses `input` with a subsystem's own schema (its cross-field rules live there), naming each
 * issue by the variable its option came from.
 */
function subConfig<S extends z.ZodType>(
  schema: S,
  vars: Record<string, EnvName>,
  input: Record<string, unknown>,
  issues: FieldIssue[],
): z.infer<S> | undefined {
  const parsed = schema.safeParse(input);
  if (parsed.success) return parsed.data;
  issues.push(...issuesOf(parsed.error, (p) => vars[String(p[0])] ?? p.join(".")));
  return undefined;
}

/** `{ option: env[variable] }` for the variables that are set. */
const pick = (env: DroverEnv, vars: Record<string, EnvName>): Record<string, unknown> =>
  Object.fromEntries(
    Object.entries(vars)
      .map(([option, name]) => [option, env[name]])
      .filter(([, v]) => v !== undefined),
  );

const EMBEDDED_VARS = {
  keyName: "DROVER_SECRET_KEY_NAME",
  masterKey: "DROVER_MASTER_KEY",
  masterKeyFile: "DROVER_MASTER_KEY_FILE",
} as const satisfies Record<string, EnvName>;

const VAULT_VARS = {
  addr: "VAULT_ADDR",
  token: "VAULT_TOKEN",
  roleId: "DROVER_VAULT_ROLE_ID",
  secretId: "DROVER_VAULT_SECRET_ID",
  appRoleMount: "DROVER_VAULT_APPROLE_MOUNT",
  namespace: "VAULT_NAMESPACE",
  mount: "DROVER_VAULT_TRANSIT_MOUNT",
  keyName: "DROVER_VAULT_TRANSIT_KEY",
  caCert: "VAULT_CACERT",
  caPath: "VAULT_CAPATH",
  clientCert: "VAULT_CLIENT_CERT",
  clientKey: "VAULT_CLIENT_KEY",
  skipVerify: "VAULT_SKIP_VERIFY",
  tlsServerName: "VAULT_TLS_SERVER_NAME",
} as const satisfies Record<string, EnvName>;

const NOMAD_VARS = {
  address: "NOMAD_ADDR",
  token: "NOMAD_TOKEN",
  namespace: "NOMAD_NAMESPACE",
  region: "NOMAD_REGION",
  caCert: "NOMAD_CACERT",
  clientCert: "NOMAD_CLIENT_CERT",
  clientKey: "NOMAD_CLIENT_KEY",
  tlsServerName: "NOMAD_TLS_SERVER_NAME",
  skipVerify: "NOMAD_SKIP_VERIFY",
} as const satisfies Record<string, EnvName>;

const JOB_SPEC_VARS = {
  datacenters: "DROVER_NOMAD_DATACENTERS",
  nodePool: "DROVER_NOMAD_NODE_POOL",
  priority: "DROVER_NOMAD_PRIORITY",
  namespace: "NOMAD_NAMESPACE",
  region: "NOMAD_REGION",
  nodeClass: "DROVER_NOMAD_NODE_CLASS",
  driver: "DROVER_NOMAD_DRIVER",
  agentImage: "DROVER_AGENT_IMAGE",
  rawExec: "DROVER_NOMAD_RAW_EXEC_COMMAND",
  mhzPerCpu: "DROVER_NOMAD_MHZ_PER_CPU",
} as const satisfies Record<string, EnvName>;

/**
 * The secret store: Vault transit when `VAULT_ADDR` is set (or `DROVER_SECRET_STORE=vault`),
 * else the embedded keyring with its master key file in `dataDir` by default.
 */
function secretStoreOf(
  env: DroverEnv,
  dataDir: string | undefined,
  issues: FieldIssue[],
): SecretStoreConfig | undefined {
  const kind = env.DROVER_SECRET_STORE ?? (env.VAULT_ADDR ? "vault" : "embedded");
  if (kind === "vault") {
    if (!env.VAULT_ADDR) {
      issues.push({ field: "VAULT_ADDR", message: "DROVER_SECRET_STORE=vault needs VAULT_ADDR" });
      return undefined;
    }
    return subConfig(
      secretStoreConfigSchema,
      VAULT_VARS,
      { kind, ...pick(env, VAULT_VARS) },
      issues,
    );
  }
  const defaultFile = !env.DROVER_MASTER_KEY_FILE && dataDir !== undefined;
  return subConfig(
    secretStoreConfigSchema,
    EMBEDDED_VARS,
    {
      kind,
      ...pick(env, EMBEDDED_VARS),
      ...(defaultFile ? { masterKeyFile: join(resolve(dataDir), "master.key") } : {}),
      createMasterKeyFile: defaultFile,
    },
    issues,
  );
}

/** The Nomad scheduler's settings, or null when `NOMAD_ADDR` is unset. */
function nomadOf(env: DroverEnv, issues: FieldIssue[]): NomadSettings | null | undefined {
  if (!env.NOMAD_ADDR) return null;
  const client = subConfig(nomadConfigSchema, NOMAD_VARS, pick(env, NOMAD_VARS), issues);
  const { rawExec: _, ...simple } = JOB_SPEC_VARS;
  const jobSpec = subConfig(
    jobSpecConfigSchema,
    JOB_SPEC_VARS,
    {
      ...pick(env, simple),
      allowPlaintext: env.DROVER_ALLOW_PLAINTEXT,
      ...(env.DROVER_NOMAD_RAW_EXEC_COMMAND
        ? {
            rawExec: {
              command: env.DROVER_NOMAD_RAW_EXEC_COMMAND,
              args: env.DROVER_NOMAD_RAW_EXEC_ARGS ?? [],
            },
          }
        : {}),
    },
    issues,
  );
  if (!client || !jobSpec) return undefined;
  return { client, jobSpec, uiAddress: env.DROVER_NOMAD_UI_ADDR ?? env.NOMAD_ADDR };
}

/**
 * Parses the whole configuration once: every variable (`envSchema`), then each subsystem's
 * cross-field rules. Any invalid variable is a `ConfigError` (`DROVER_ERR_ENV_INVALID`) that
 * names them all.
 */
export function loadConfig(env: Record<string, string | undefined>): DroverConfig {
  const parsed = parseEnv(env);
  const server = serverConfigOf(parsed);
  const issues: FieldIssue[] = [];
  const secretStore = secretStoreOf(parsed, server.dataDir, issues);
  const nomad = nomadOf(parsed, issues);
  const vm = vmOf(parsed, issues);
  if (issues.length > 0 || !secretStore || nomad === undefined || !vm) failConfig(issues);
  return { server, secretStore, nomad, vm, logLevel: parsed.DROVER_LOG_LEVEL };
}

/** The server options from the environment (`loadConfig(env).server`). */
export function serverConfigFromEnv(env: Record<string, string | undefined>): ServerConfig {
  return serverConfigOf(parseEnv(env));
}

/**
 * The secret store from the environment: `vault` when `VAULT_ADDR` is set (or
 * `DROVER_SECRET_STORE=vault`), else `embedded` with the master key from `DROVER_MASTER_KEY` or
 * `DROVER_MASTER_KEY_FILE` (default `<dataDir>/master.key`, created 0600 on first start).
 */
export function secretStoreConfigFromEnv(
  env: Record<string, string | undefined>,
  defaults: { dataDir?: string } = {},
): SecretStoreConfig {
  const issues: FieldIssue[] = [];
  const config = secretStoreOf(parseEnv(env), defaults.dataDir, issues);
  if (!config) failConfig(issues);
  return config;
}

function vmOf(env: DroverEnv, issues: FieldIssue[]): VmSettings | undefined {
  if (env.DROVER_VM_URL) {
    if (!env.DROVER_VM_SERVICE_TOKEN) {
      issues.push({
        field: "DROVER_VM_SERVICE_TOKEN",
        message: "required with DROVER_VM_URL (vm-service's service token)",
      });
      return undefined;
    }
    return { mode: "remote", url: env.DROVER_VM_URL, serviceToken: env.DROVER_VM_SERVICE_TOKEN };
  }
  return env.DROVER_VM === "off" ? { mode: "off" } : { mode: "embedded", port: env.DROVER_VM_PORT };
}

/** The vm-service settings from the environment. */
export function vmSettingsFromEnv(env: Record<string, string | undefined>): VmSettings {
  const issues: FieldIssue[] = [];
  const vm = vmOf(parseEnv(env), issues);
  if (!vm) failConfig(issues);
  return vm;
}

/** The Nomad settings from the environment; null when `NOMAD_ADDR` is unset. */
export function nomadSettingsFromEnv(
  env: Record<string, string | undefined>,
): NomadSettings | null {
  const issues: FieldIssue[] = [];
  const nomad = nomadOf(parseEnv(env), issues);
  if (nomad === undefined) failConfig(issues);
  return nomad;
}
