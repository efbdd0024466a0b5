import { join, resolve } from "node:path";
import { z } from "zod";
import { usersConfigSchema } from "../users/config.js";

export const serverConfigSchema = z.object({
  /** Interface the API listens on (`DROVER_HOST`). */
  host: z.string().default("127.0.0.1"),
  /** API port (`DROVER_PORT`); 0 picks a free one. */
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  /** Embedded state: PGlite data, git cache, agent logs (`DROVER_DATA_DIR`). */
  dataDir: z.string().default(".drover"),
  /** PostgreSQL instead of PGlite (`DATABASE_URL`). */
  databaseUrl: z.string().url().optional(),
  /** Base of browser links (`DROVER_PUBLIC_URL`); default the listen URL. */
  publicUrl: z.string().url().optional(),
  /** URL agents use to reach this server (`DROVER_INTERNAL_URL`); default the listen URL. */
  internalUrl: z.string().url().optional(),
  /**
   * Output-processor URL handed to agents and the CLI (`DROVER_OUTPUT_URL`); default the
   * in-process output-processor's listen URL (`http://127.0.0.1:8585`).
   */
  outputUrl: z.string().url().optional(),
  /**
   * Port of the in-process output-processor (`DROVER_OUTPUT_PORT`); 0 picks a free one. Unset:
   * 8585, or a free port when 8585 is taken (another instance on this machine).
   */
  outputPort: z.coerce.number().int().min(0).max(65535).optional(),
  /** Interface the output-processor listens on (`DROVER_OUTPUT_HOST`). */
  outputHost: z.string().default("127.0.0.1"),
  /** Durable log store directory (`DROVER_OUTPUT_DIR`); default `<dataDir>/output`. */
  outputDir: z.string().optional(),
  /** Redis for output pub/sub and the live window (`REDIS_URL`); in-process when unset. */
  redisUrl: z.string().optional(),
  /**
   * HMAC key of agents' output tokens (`DROVER_OUTPUT_TOKEN_SECRET`, at least 16 characters);
   * default a random key kept in `<dataDir>/output-keys.json`. Instances sharing an
   * output-processor must share it.
   */
  outputTokenSecret: z.string().min(16).optional(),
  /**
   * Service token of the output-processor's log routes (`DROVER_OUTPUT_READ_TOKEN`), with which
   * the control plane serves step output; `drover up` makes one for its in-process processor.
   */
  outputReadToken: z.string().min(16).optional(),
  /** Pusher app key and secret for browsers (`DROVER_PUSHER_APP_KEY`/`_SECRET`); default random, kept like the token key. */
  pusherAppKey: z.string().min(1).optional(),
  pusherAppSecret: z.string().min(16).optional(),
  /** Agent command for the local scheduler, a JSON array (`DROVER_AGENT_COMMAND`). */
  agentCommand: z.array(z.string()).min(1).optional(),
  /** Directory of registry orbs for the compiler (`DROVER_ORBS_DIR`). */
  orbsDir: z.string().optional(),
  /** Engine housekeeping period in ms (`DROVER_TICK_MS`). */
  tickIntervalMs: z.coerce.number().int().min(0).default(2000),
  /** Schedule runner period in ms (`DROVER_SCHEDULE_TICK_MS`); 0 disables the runner. */
  scheduleTickMs: z.coerce.number().int().min(0).default(15_000),
  /** Days caches are kept (`DROVER_CACHE_RETENTION_DAYS`). */
  cacheRetentionDays: z.coerce.number().positive().default(15),
  /** Days artifacts are kept (`DROVER_ARTIFACT_RETENTION_DAYS`). */
  artifactRetentionDays: z.coerce.number().positive().default(30),
  /** Days workspaces are kept (`DROVER_WORKSPACE_RETENTION_DAYS`). */
  workspaceRetentionDays: z.coerce.number().positive().default(15),
  /** How often expired uploads are deleted, in ms (`DROVER_RETENTION_SWEEP_MS`); 0 disables. */
  retentionSweepMs: z.coerce.number().int().min(0).default(3_600_000),
  // Login rate limits and trusted origins (`users/config.ts`).
  ...usersConfigSchema.shape,
});
export type ServerConfig = z.infer<typeof serverConfigSchema>;

/** Reads the server config from `DROVER_*` variables (and `DATABASE_URL`). */
export function serverConfigFromEnv(env: NodeJS.ProcessEnv): ServerConfig {
  const agent = env.DROVER_AGENT_COMMAND;
  let agentCommand: unknown;
  if (agent) {
    try {
      agentCommand = agent.trim().startsWith("[") ? JSON.parse(agent) : agent.trim().split(/\s+/);
    } catch {
      agentCommand = agent;
    }
  }
  const parsed = serverConfigSchema.safeParse({
    host: env.DROVER_HOST,
    port: env.DROVER_PORT,
    dataDir: env.DROVER_DATA_DIR,
    databaseUrl: env.DATABASE_URL || undefined,
    publicUrl: env.DROVER_PUBLIC_URL,
    internalUrl: env.DROVER_INTERNAL_URL,
    outputUrl: env.DROVER_OUTPUT_URL || undefined,
    outputPort: env.DROVER_OUTPUT_PORT || undefined,
    outputHost: env.DROVER_OUTPUT_HOST,
    outputDir: env.DROVER_OUTPUT_DIR,
    redisUrl: env.REDIS_URL || undefined,
    outputTokenSecret: env.DROVER_OUTPUT_TOKEN_SECRET || undefined,
    outputReadToken: env.DROVER_OUTPUT_READ_TOKEN || undefined,
    pusherAppKey: env.DROVER_PUSHER_APP_KEY || undefined,
    pusherAppSecret: env.DROVER_PUSHER_APP_SECRET || undefined,
    agentCommand,
    orbsDir: env.DROVER_ORBS_DIR,
    tickIntervalMs: env.DROVER_TICK_MS,
    scheduleTickMs: env.DROVER_SCHEDULE_TICK_MS,
    cacheRetentionDays: env.DROVER_CACHE_RETENTION_DAYS || undefined,
    artifactRetentionDays: env.DROVER_ARTIFACT_RETENTION_DAYS || undefined,
    workspaceRetentionDays: env.DROVER_WORKSPACE_RETENTION_DAYS || undefined,
    retentionSweepMs: env.DROVER_RETENTION_SWEEP_MS || undefined,
    loginWindowSeconds: env.DROVER_LOGIN_WINDOW_SECONDS || undefined,
    loginMaxFailuresPerUser: env.DROVER_LOGIN_MAX_FAILURES_PER_USER || undefined,
    loginMaxFailuresPerAddress: env.DROVER_LOGIN_MAX_FAILURES_PER_ADDRESS || undefined,
    trustedOrigins: env.DROVER_TRUSTED_ORIGINS
      ? env.DROVER_TRUSTED_ORIGINS.split(",")
          .map((o) => o.trim())
          .filter(Boolean)
      : undefined,
  });
  if (!parsed.success) {
    const names: Record<string, string> = {
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
      pusherAppKey: "DROVER_PUSHER_APP_KEY",
      pusherAppSecret: "DROVER_PUSHER_APP_SECRET",
      agentCommand: "DROVER_AGENT_COMMAND",
      orbsDir: "DROVER_ORBS_DIR",
      tickIntervalMs: "DROVER_TICK_MS",
      scheduleTickMs: "DROVER_SCHEDULE_TICK_MS",
      loginWindowSeconds: "DROVER_LOGIN_WINDOW_SECONDS",
      loginMaxFailuresPerUser: "DROVER_LOGIN_MAX_FAILURES_PER_USER",
      loginMaxFailuresPerAddress: "DROVER_LOGIN_MAX_FAILURES_PER_ADDRESS",
      trustedOrigins: "DROVER_TRUSTED_ORIGINS",
    };
    const msg = parsed.error.issues
      .map((i) => `${names[String(i.path[0])] ?? i.path.join(".")}: ${i.message}`)
      .join("; ");
    throw new Error(`invalid configuration: ${msg}`);
  }
  return parsed.data;
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
    serverLog: join(root, "server.log"),
    snapshots: join(root, "snapshots"),
  };
}
