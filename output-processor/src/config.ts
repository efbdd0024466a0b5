import { serverTlsOf, tlsEnvSchema } from "@drover/tls";
import { z } from "zod";
import { OutputError } from "./errors.js";
import { s3ConfigSchema } from "./objstore/config.js";

/** The backbone channels' prefix unless `DROVER_OUTPUT_CHANNEL_PREFIX` says otherwise. */
export const DEFAULT_CHANNEL_PREFIX = "drover:output:";

export const outputConfigSchema = z.object({
  /** Port for ingest, browser WebSockets and log reads (0 picks a free one). */
  port: z.number().int().min(0).max(65535).default(8585),
  host: z.string().default("0.0.0.0"),
  /** Serve HTTPS/WSS with this PEM certificate and key (`DROVER_TLS_CERT`/`DROVER_TLS_KEY`). */
  tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
  /** Listen in plaintext beyond loopback (`DROVER_ALLOW_PLAINTEXT=true`). */
  allowPlaintext: z.boolean().default(false),
  /** Redis for pub/sub and the live window; in-process when unset (single instance). */
  redisUrl: z.string().optional(),
  /** Directory of the filesystem log store. */
  dataDir: z.string().min(1),
  /** Per-task stored log limit in bytes; beyond it the head and the tail are kept. */
  maxTaskBytes: z
    .number()
    .int()
    .positive()
    .default(100 * 1024 * 1024),
  /** Target size of one log chunk in bytes. */
  chunkBytes: z
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  /** Prefix of backbone channel and Redis key names (isolates deployments sharing a Redis). */
  channelPrefix: z.string().default(DEFAULT_CHANNEL_PREFIX),
  /** Entries per task kept in the live window. */
  windowEntries: z.number().int().positive().default(1024),
  /** Serialized bytes per task kept in the live window (about). */
  windowBytes: z
    .number()
    .int()
    .positive()
    .default(512 * 1024),
  /** Archive logs to S3 (or compatible) with `dataDir` as the local spool; see README "Object storage". */
  objectStore: s3ConfigSchema
    .extend({
      /** Keep the spool copy of an archived task (default: delete it once uploaded). */
      keepLocal: z.boolean().default(false),
    })
    .optional(),
  pusher: z.object({
    appKey: z.string().min(1),
    appSecret: z.string().min(16),
    activityTimeoutSec: z.number().int().positive().default(120),
    /** Bytes queued for one browser beyond which it is closed to resume later. */
    maxBufferedBytes: z
      .number()
      .int()
      .positive()
      .default(8 * 1024 * 1024),
    /** Drover's events with `data` as a JSON string (strict Pusher clients) instead of an object. */
    stringData: z.boolean().default(false),
  }),
});
export type OutputConfig = z.infer<typeof outputConfigSchema>;
export type OutputConfigInput = z.input<typeof outputConfigSchema>;

export function parseOutputConfig(input: unknown): OutputConfig {
  const r = outputConfigSchema.safeParse(input);
  if (!r.success) {
    const issues = r.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new OutputError("DROVER_ERR_OUTPUT_CONFIG", `invalid output-processor config: ${issues}`);
  }
  return r.data;
}

/**
 * Reads `DROVER_OUTPUT_*`, `DROVER_PUSHER_*`, `DROVER_TLS_*` and `REDIS_URL`; object storage when
 * `DROVER_OUTPUT_S3_ENDPOINT` is set (with `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`).
 */
export function outputConfigFromEnv(env: NodeJS.ProcessEnv): OutputConfig {
  const num = (v: string | undefined): number | undefined => (v ? Number(v) : undefined);
  return parseOutputConfig({
    port: num(env.DROVER_OUTPUT_PORT),
    host: env.DROVER_OUTPUT_HOST,
    tls: serverTlsOf(env),
    allowPlaintext: tlsEnvSchema.shape.DROVER_ALLOW_PLAINTEXT.parse(
      env.DROVER_ALLOW_PLAINTEXT || undefined,
    ),
    redisUrl: env.REDIS_URL || undefined,
    dataDir: env.DROVER_OUTPUT_DIR ?? ".drover/output",
    maxTaskBytes: num(env.DROVER_OUTPUT_MAX_TASK_BYTES),
    chunkBytes: num(env.DROVER_OUTPUT_CHUNK_BYTES),
    channelPrefix: env.DROVER_OUTPUT_CHANNEL_PREFIX,
    objectStore: env.DROVER_OUTPUT_S3_ENDPOINT
      ? {
          endpoint: env.DROVER_OUTPUT_S3_ENDPOINT,
          bucket: env.DROVER_OUTPUT_S3_BUCKET,
          region: env.DROVER_OUTPUT_S3_REGION || env.AWS_REGION || undefined,
          prefix: env.DROVER_OUTPUT_S3_PREFIX,
          accessKeyId: env.AWS_ACCESS_KEY_ID,
          secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
          keepLocal: env.DROVER_OUTPUT_S3_KEEP_LOCAL === "true" || undefined,
        }
      : undefined,
    pusher: {
      appKey: env.DROVER_PUSHER_APP_KEY,
      appSecret: env.DROVER_PUSHER_APP_SECRET,
      maxBufferedBytes: num(env.DROVER_PUSHER_MAX_BUFFERED_BYTES),
      stringData: env.DROVER_PUSHER_STRING_DATA === "true" || undefined,
    },
  });
}
