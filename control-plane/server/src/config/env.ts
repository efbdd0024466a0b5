import { tlsEnvSchema } from "@drover/tls";
import { z } from "zod";
import type { FieldIssue } from "../errors/index.js";
import { usersConfigSchema } from "../users/config.js";
import { ConfigError } from "./errors.js";

const port = z.coerce.number({ error: "a port number" }).int().min(0).max(65535);
const ms = z.coerce.number({ error: "a number of milliseconds" }).int().min(0);
const days = z.coerce.number({ error: "a number of days" }).positive();
/** A comma-separated list (`a, b,c`). */
const list = z.preprocess(
  (v) =>
    typeof v === "string"
      ? v
          .split(",")
          .map((s) => s.trim())
          .filter(Boolean)
      : v,
  z.array(z.string().min(1)).min(1),
);
/** A boolean as Go's `strconv.ParseBool` reads it (what Vault's and Nomad's CLIs accept). */
const bool = z.preprocess(
  (v) => {
    if (typeof v !== "string") return v;
    if (/^(1|t|true)$/i.test(v)) return true;
    if (/^(0|f|false)$/i.test(v)) return false;
    return v;
  },
  z.boolean({ error: "true or false (or 1/0, t/f)" }),
);
/** A command: a JSON array of strings, or words separated by spaces. */
const command = z.preprocess((v) => {
  if (typeof v !== "string") return v;
  const t = v.trim();
  if (!t.startsWith("[")) return t.split(/\s+/);
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return v;
  }
}, z.array(z.string()).min(1));
const keyName = z.string().regex(/^[A-Za-z0-9_.-]+$/, "letters, digits, '_', '.' and '-' only");

/**
 * Every environment variable the control plane reads (`drover up`), in one place: its type, its
 * default and a one-line description (`control-plane/server/README.md` is checked against it).
 * `loadConfig` parses it once; deep modules get the parsed values through their constructors.
 */
export const envSchema = z.object({
  // The API and its state.
  DROVER_HOST: z.string().default("127.0.0.1").describe("Interface the API listens on."),
  DROVER_PORT: port.default(8080).describe("API port; 0 picks a free one."),
  DROVER_DATA_DIR: z
    .string()
    .default(".drover")
    .describe("Embedded state: PGlite data, git cache, agent logs, blobs, master key."),
  DATABASE_URL: z
    .url({ protocol: /^postgres(ql)?$/, error: "a postgres:// or postgresql:// URL" })
    .optional()
    .describe("PostgreSQL (`postgres://...`) instead of the embedded PGlite."),
  DROVER_PUBLIC_URL: z
    .url()
    .optional()
    .describe("Base of browser links (job pages, artifacts); default the listen URL."),
  DROVER_INTERNAL_URL: z
    .url()
    .optional()
    .describe("URL agents reach this server at; default the listen URL."),
  DROVER_LOG_LEVEL: z
    .enum(["fatal", "error", "warn", "info", "debug", "trace", "silent"])
    .default("info")
    .describe("Level of the server's log (pino)."),

  // TLS of the API, UI, task API, output-processor and vm-service (`@drover/tls`).
  ...tlsEnvSchema.shape,

  // Step output (the in-process output-processor).
  DROVER_OUTPUT_URL: z
    .url()
    .optional()
    .describe("Output-processor URL handed to agents and the CLI; default the in-process one."),
  DROVER_OUTPUT_PORT: port
    .optional()
    .describe("Port of the in-process output-processor; unset: 8585, or a free port if taken."),
  DROVER_OUTPUT_HOST: z
    .string()
    .default("127.0.0.1")
    .describe("Interface the in-process output-processor listens on."),
  DROVER_OUTPUT_DIR: z
    .string()
    .optional()
    .describe("Durable log store directory; default `<DROVER_DATA_DIR>/output`."),
  REDIS_URL: z
    .url({ protocol: /^rediss?$/, error: "a redis:// or rediss:// URL" })
    .optional()
    .describe("Redis for output pub/sub and the live window; in-process when unset."),
  DROVER_OUTPUT_TOKEN_SECRET: z
    .string()
    .min(16)
    .optional()
    .describe("HMAC key of agents' output tokens; default a random key kept in the data dir."),
  DROVER_OUTPUT_READ_TOKEN: z
    .string()
    .min(16)
    .optional()
    .describe("Token the control plane reads step output with; default a random one per start."),
  DROVER_PUSHER_APP_KEY: z
    .string()
    .min(1)
    .optional()
    .describe("Pusher app key of browsers' live channels; default random, kept in the data dir."),
  DROVER_PUSHER_APP_SECRET: z
    .string()
    .min(16)
    .optional()
    .describe("Pusher app secret that signs channel auth; default random, kept in the data dir."),

  // Artifacts: served on each project's own origin at signed, short-lived URLs.
  DROVER_ARTIFACTS_ORIGIN: z
    .string()
    .refine(
      (v) => {
        try {
          const u = new URL(v.replace("{project}", "p"));
          return v.includes("{project}") && /^https?:$/.test(u.protocol) && u.pathname === "/";
        } catch {
          return false;
        }
      },
      {
        message:
          "an http(s) origin holding {project}, e.g. https://{project}.artifacts.example.com",
      },
    )
    .optional()
    .describe(
      "Origin pattern of artifacts, `{project}` a label per project; default `http://{project}.localhost:<port>`.",
    ),
  DROVER_ARTIFACTS_PORT: port
    .optional()
    .describe("Port of the artifact server; unset: 8081, or a free port if taken."),
  DROVER_ARTIFACTS_URL_TTL_SECONDS: z.coerce
    .number({ error: "a number of seconds" })
    .int()
    .positive()
    .default(300)
    .describe("Lifetime of a signed artifact URL, seconds."),
  DROVER_ARTIFACTS_SIGNING_KEY: z
    .string()
    .min(32, "at least 32 characters")
    .optional()
    .describe(
      "HMAC key of artifact URLs (shared by instances); default random, kept in the data dir.",
    ),

  // Where artifacts, caches and workspaces are kept: on disk, or in an S3-compatible bucket.
  DROVER_BLOB_S3_BUCKET: z
    .string()
    .min(3)
    .optional()
    .describe("Bucket for artifacts, caches and workspaces; unset: `<DROVER_DATA_DIR>/blobs`."),
  DROVER_BLOB_S3_ENDPOINT: z
    .url({ protocol: /^https?$/, error: "an http:// or https:// URL" })
    .optional()
    .describe("S3-compatible endpoint (MinIO ...); unset: AWS S3. Credentials: the SDK's chain."),
  DROVER_BLOB_S3_REGION: z.string().default("us-east-1").describe("Region of the bucket."),
  DROVER_BLOB_S3_PREFIX: z.string().default("").describe("Key prefix inside the bucket."),

  // The engine, schedules and retention.
  DROVER_AGENT_COMMAND: command
    .optional()
    .describe(
      "Agent command of the local scheduler (JSON array or words); default the build agent.",
    ),
  DROVER_ORBS_DIR: z.string().optional().describe("Directory of registry orbs for the compiler."),
  DROVER_SCHEDULER: z
    .enum(["local", "nomad", "queue"])
    .optional()
    .describe(
      "Where tasks run: `local` agents, `nomad` jobs, or `queue` for `drover runner`s; default nomad with NOMAD_ADDR, else local.",
    ),
  DROVER_OUTPUT_EMBEDDED: bool
    .default(true)
    .describe(
      "false: no in-process output-processor; use the one at DROVER_OUTPUT_URL with the shared token secret, read token and Pusher keys.",
    ),
  DROVER_RUNNER_ID: z
    .string()
    .regex(/^[A-Za-z0-9_.-]{1,64}$/, "1-64 letters, digits, '_', '.' or '-'")
    .optional()
    .describe("`drover runner`: this runner's id; default one made once in the data dir."),
  DROVER_RUNNER_CAPACITY: z.coerce
    .number()
    .int()
    .min(1)
    .max(256)
    .default(4)
    .describe("`drover runner`: tasks it runs at once."),
  DROVER_RUNNER_PORT: port
    .default(8090)
    .describe("`drover runner`: port of its /healthz, /readyz and /metrics; 0 picks one."),
  DROVER_TICK_MS: ms.default(2000).describe("Engine housekeeping period in ms; 0 disables it."),
  DROVER_SCHEDULE_TICK_MS: ms
    .default(15_000)
    .describe("Scheduled-pipeline runner period in ms; 0 disables it."),
  DROVER_CACHE_RETENTION_DAYS: days.default(15).describe("Days caches are kept."),
  DROVER_ARTIFACT_RETENTION_DAYS: days.default(30).describe("Days artifacts are kept."),
  DROVER_WORKSPACE_RETENTION_DAYS: days.default(15).describe("Days workspaces are kept."),
  DROVER_RETENTION_SWEEP_MS: ms
    .default(3_600_000)
    .describe("How often expired uploads are deleted, in ms; 0 disables it."),

  // Logins and browser writes (`users/`).
  DROVER_LOGIN_WINDOW_SECONDS: z.coerce
    .number({ error: "a number of seconds" })
    .int()
    .min(1)
    .default(900)
    .describe("Sliding window of the login rate limit, in seconds."),
  DROVER_LOGIN_MAX_FAILURES_PER_USER: z.coerce
    .number({ error: "a count" })
    .int()
    .min(1)
    .default(10)
    .describe("Failed logins of one user per window before logins answer 429."),
  DROVER_LOGIN_MAX_FAILURES_PER_ADDRESS: z.coerce
    .number({ error: "a count" })
    .int()
    .min(1)
    .default(50)
    .describe("Failed logins from one address (IPv6: its /64) per window before 429."),
  DROVER_TRUSTED_ORIGINS: z
    .preprocess(
      (v) =>
        typeof v === "string"
          ? v
              .split(",")
              .map((s) => s.trim())
              .filter(Boolean)
          : v,
      usersConfigSchema.shape.trustedOrigins,
    )
    .describe(
      "Comma-separated origins (`https://host[:port]`) besides the server's own whose cookie-authenticated writes are accepted.",
    ),

  // The secret store: embedded keyring, or Vault transit.
  DROVER_SECRET_STORE: z
    .enum(["embedded", "vault"])
    .optional()
    .describe("Secret store; default `vault` when VAULT_ADDR is set, else `embedded`."),
  DROVER_SECRET_KEY_NAME: keyName
    .optional()
    .describe("Name of the embedded store's keyring (default `drover`)."),
  DROVER_MASTER_KEY: z
    .string()
    .optional()
    .describe("Embedded store's master key: 32 bytes as base64 or hex; wins over the key file."),
  DROVER_MASTER_KEY_FILE: z
    .string()
    .optional()
    .describe(
      "0600 file holding the master key; default `<DROVER_DATA_DIR>/master.key`, made once.",
    ),
  VAULT_ADDR: z.url().optional().describe("Vault's address; set, secrets use Vault transit."),
  VAULT_TOKEN: z.string().optional().describe("Vault token (or use AppRole)."),
  DROVER_VAULT_ROLE_ID: z.string().optional().describe("AppRole role id, instead of a token."),
  DROVER_VAULT_SECRET_ID: z.string().optional().describe("AppRole secret id, with the role id."),
  DROVER_VAULT_APPROLE_MOUNT: z
    .string()
    .optional()
    .describe("Mount of Vault's AppRole auth (default `approle`)."),
  VAULT_NAMESPACE: z.string().optional().describe("Vault Enterprise namespace."),
  DROVER_VAULT_TRANSIT_MOUNT: z
    .string()
    .optional()
    .describe("Mount of Vault's transit engine (default `transit`)."),
  DROVER_VAULT_TRANSIT_KEY: keyName
    .optional()
    .describe("Name of the transit key (default `drover`)."),
  VAULT_CACERT: z
    .string()
    .optional()
    .describe("PEM file of the CA that signed Vault's certificate."),
  VAULT_CAPATH: z.string().optional().describe("Directory of CA PEM files for Vault."),
  VAULT_CLIENT_CERT: z.string().optional().describe("PEM client certificate for Vault mutual TLS."),
  VAULT_CLIENT_KEY: z.string().optional().describe("PEM client key for Vault mutual TLS."),
  VAULT_TLS_SERVER_NAME: z
    .string()
    .optional()
    .describe("Server name to verify on Vault's certificate."),
  VAULT_SKIP_VERIFY: bool
    .optional()
    .describe("Skip verifying Vault's certificate (loopback experiments only)."),

  // Machines (vm-service) for `machine` jobs and `setup_remote_docker`.
  DROVER_VM: z
    .enum(["embedded", "off"])
    .default("embedded")
    .describe(
      "`embedded`: `drover up` runs vm-service (local provider) unless DROVER_VM_URL is set; `off`: none.",
    ),
  DROVER_VM_URL: z
    .url({ protocol: /^https?$/, error: "an http:// or https:// URL" })
    .optional()
    .describe("A running vm-service's API (port 3000) instead of the embedded one."),
  DROVER_VM_SERVICE_TOKEN: z
    .string()
    .min(16, "at least 16 characters")
    .optional()
    .describe("vm-service's service token; required with DROVER_VM_URL (embedded: generated)."),
  DROVER_VM_PORT: port
    .default(3000)
    .describe("Port of the embedded vm-service; a free one when taken, 0 always picks one."),
  // The Nomad scheduler.
  NOMAD_ADDR: z
    .url({ protocol: /^https?$/, error: "an http:// or https:// URL" })
    .optional()
    .describe("Nomad's HTTP API; set, tasks run as Nomad batch jobs instead of local agents."),
  NOMAD_TOKEN: z.string().optional().describe("Nomad ACL token."),
  NOMAD_NAMESPACE: z.string().optional().describe("Nomad namespace of Drover's jobs."),
  NOMAD_REGION: z.string().optional().describe("Nomad region of Drover's jobs."),
  NOMAD_CACERT: z
    .string()
    .optional()
    .describe("PEM file of the CA that signed Nomad's certificate."),
  NOMAD_CLIENT_CERT: z.string().optional().describe("PEM client certificate for Nomad mutual TLS."),
  NOMAD_CLIENT_KEY: z.string().optional().describe("PEM client key for Nomad mutual TLS."),
  NOMAD_TLS_SERVER_NAME: z
    .string()
    .optional()
    .describe("Server name to verify on Nomad's certificate."),
  NOMAD_SKIP_VERIFY: bool
    .optional()
    .describe("Skip verifying Nomad's certificate (loopback experiments only)."),
  DROVER_NOMAD_UI_ADDR: z
    .url()
    .optional()
    .describe("Nomad UI base for operators' links; default NOMAD_ADDR."),
  DROVER_NOMAD_DATACENTERS: list
    .optional()
    .describe("Datacenters of task jobs, comma-separated (default `dc1`)."),
  DROVER_NOMAD_NODE_POOL: z
    .string()
    .optional()
    .describe("Node pool of task jobs (default `default`)."),
  DROVER_NOMAD_PRIORITY: z.coerce
    .number()
    .int()
    .min(1)
    .max(100)
    .optional()
    .describe("Priority of task jobs, 1-100 (default 50)."),
  DROVER_NOMAD_NODE_CLASS: z
    .string()
    .transform((v) => (v === "any" ? null : v))
    .optional()
    .describe("Node class task jobs run on; `any` lifts the constraint (default `linux-64bit`)."),
  DROVER_NOMAD_DRIVER: z
    .enum(["docker", "raw_exec"])
    .optional()
    .describe("Task driver of the agent: `docker` or `raw_exec` (default `docker`)."),
  DROVER_AGENT_IMAGE: z
    .string()
    .optional()
    .describe("Agent image of the docker driver (default `drover/build-agent:latest`)."),
  DROVER_NOMAD_RAW_EXEC_COMMAND: z
    .string()
    .optional()
    .describe("Agent command on Nomad clients for the raw_exec driver."),
  DROVER_NOMAD_RAW_EXEC_ARGS: list
    .optional()
    .describe("Arguments of the raw_exec command, comma-separated."),
  DROVER_NOMAD_MHZ_PER_CPU: z.coerce
    .number()
    .int()
    .positive()
    .optional()
    .describe("Nomad CPU MHz per vCPU of a resource class (default 1000)."),
});

/** The name of one variable the control plane reads. */
export type EnvName = keyof typeof envSchema.shape;
/** The parsed environment: typed values and defaults, keyed by variable name. */
export type DroverEnv = z.infer<typeof envSchema>;

/** An issue of a zod parse, named by the variable it came from. */
export function issuesOf(
  error: z.ZodError,
  nameOf: (path: readonly PropertyKey[]) => string,
): FieldIssue[] {
  return error.issues.map((i) => ({ field: nameOf(i.path), message: i.message }));
}

/** Throws the configuration error listing every offending variable. */
export function failConfig(issues: FieldIssue[]): never {
  const seen = new Set<string>();
  const fields = issues.filter((f) => {
    const key = `${f.field}\0${f.message}`;
    return !seen.has(key) && Boolean(seen.add(key));
  });
  throw new ConfigError(
    `invalid configuration: ${fields.map((f) => `${f.field}: ${f.message}`).join("; ")}`,
    fields,
  );
}

/**
 * Parses the variables the control plane reads (an empty variable counts as unset); an invalid
 * one is a `ConfigError` (`DROVER_ERR_ENV_INVALID`) naming each offending variable.
 */
export function parseEnv(env: Record<string, string | undefined>): DroverEnv {
  const given: Record<string, string> = {};
  for (const name of Object.keys(envSchema.shape)) {
    const v = env[name];
    if (v !== undefined && v !== "") given[name] = v;
  }
  const parsed = envSchema.safeParse(given);
  if (!parsed.success) failConfig(issuesOf(parsed.error, (p) => String(p[0] ?? "(environment)")));
  return parsed.data;
}
