import { join, resolve } from "node:path";
import { z } from "zod";
import { envSchema, type DroverEnv, type EnvName } from "./env.js";

/** The variable each option of the composition root comes from (types and defaults: `envSchema`). */
const SERVER_VARS = {
  host: "DROVER_HOST",
  port: "DROVER_PORT",
  dataDir: "DROVER_DATA_DIR",
  databaseUrl: "DATABASE_URL",
  publicUrl: "DROVER_PUBLIC_URL",
  internalUrl: "DROVER_INTERNAL_URL",
  outputUrl: "DROVER_OUTPUT_URL",
  outputPort: "DROVER_OUTPUT_PORT",
  outputHost: "DROVER_OUTPUT_HOST",
  outputDir: "DROVER_OUTPUT_DIR",
  redisUrl: "REDIS_URL",
  outputTokenSecret: "DROVER_OUTPUT_TOKEN_SECRET",
  outputReadToken: "DROVER_OUTPUT_READ_TOKEN",
  pusherAppKey: "DROVER_PUSHER_APP_KEY",
  pusherAppSecret: "DROVER_PUSHER_APP_SECRET",
  agentCommand: "DROVER_AGENT_COMMAND",
  orbsDir: "DROVER_ORBS_DIR",
  scheduler: "DROVER_SCHEDULER",
  outputEmbedded: "DROVER_OUTPUT_EMBEDDED",
  runnerId: "DROVER_RUNNER_ID",
  runnerCapacity: "DROVER_RUNNER_CAPACITY",
  runnerPort: "DROVER_RUNNER_PORT",
  tickIntervalMs: "DROVER_TICK_MS",
  scheduleTickMs: "DROVER_SCHEDULE_TICK_MS",
  cacheRetentionDays: "DROVER_CACHE_RETENTION_DAYS",
  artifactRetentionDays: "DROVER_ARTIFACT_RETENTION_DAYS",
  workspaceRetentionDays: "DROVER_WORKSPACE_RETENTION_DAYS",
  retentionSweepMs: "DROVER_RETENTION_SWEEP_MS",
  loginWindowSeconds: "DROVER_LOGIN_WINDOW_SECONDS",
  loginMaxFailuresPerUser: "DROVER_LOGIN_MAX_FAILURES_PER_USER",
  loginMaxFailuresPerAddress: "DROVER_LOGIN_MAX_FAILURES_PER_ADDRESS",
  trustedOrigins: "DROVER_TRUSTED_ORIGINS",
  artifactsOrigin: "DROVER_ARTIFACTS_ORIGIN",
  artifactsPort: "DROVER_ARTIFACTS_PORT",
  artifactsUrlTtlSeconds: "DROVER_ARTIFACTS_URL_TTL_SECONDS",
  artifactsSigningKey: "DROVER_ARTIFACTS_SIGNING_KEY",
  blobS3Bucket: "DROVER_BLOB_S3_BUCKET",
  blobS3Endpoint: "DROVER_BLOB_S3_ENDPOINT",
  blobS3Region: "DROVER_BLOB_S3_REGION",
  blobS3Prefix: "DROVER_BLOB_S3_PREFIX",
  tlsCert: "DROVER_TLS_CERT",
  tlsKey: "DROVER_TLS_KEY",
  tlsCa: "DROVER_TLS_CA",
  allowPlaintext: "DROVER_ALLOW_PLAINTEXT",
} as const satisfies Record<string, EnvName>;

type ServerVars = typeof SERVER_VARS;
type EnvShape = typeof envSchema.shape;

/**
 * Options of the composition root (`startControlPlane`), camelCase; each field is its
 * variable's schema, so `serverConfigSchema.parse({ port: 0 })` has the same defaults as the
 * environment.
 */
export const serverConfigSchema = z.object(
  Object.fromEntries(
    Object.entries(SERVER_VARS).map(([option, name]) => [option, envSchema.shape[name]]),
  ) as { [K in keyof ServerVars]: EnvShape[ServerVars[K]] },
);
export type ServerConfig = z.infer<typeof serverConfigSchema>;

/** The server options out of the parsed environment. */
export function serverConfigOf(env: DroverEnv): ServerConfig {
  return Object.fromEntries(
    Object.entries(SERVER_VARS).map(([option, name]) => [option, env[name]]),
  ) as ServerConfig;
}

/** Absolute paths derived from the data directory. */
export function dataPaths(config: ServerConfig) {
  const root = resolve(config.dataDir);
  return {
    root,
    pglite: join(root, "pglite"),
    git: join(root, "git"),
    agents: join(root, "agents"),
    cli: join(root, "cli.json"),
    output: config.outputDir ? resolve(config.outputDir) : join(root, "output"),
    outputKeys: join(root, "output-keys.json"),
    artifactsKey: join(root, "artifacts.key"),
    serverLog: join(root, "server.log"),
    snapshots: join(root, "snapshots"),
  };
}
