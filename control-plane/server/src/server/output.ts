import { randomBytes, timingSafeEqual } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import {
  HmacTaskTokenVerifier,
  createOutputProcessor,
  type OutputProcessor,
} from "@drover/output-processor";
import { canSeeProject, type Principal } from "../auth/principal.js";
import { ConfigError } from "../config/errors.js";
import type { ServerConfig } from "../config/server-config.js";

const DEFAULT_OUTPUT_PORT = 8585;

/** The output-processor's shared keys: agents' token HMAC key and the Pusher app. */
export interface OutputKeys {
  tokenSecret: string;
  pusherAppKey: string;
  pusherAppSecret: string;
}

export interface OutputSide {
  /** The in-process output-processor, or null when a separate one serves. */
  processor: OutputProcessor | null;
  /** Where agents and the CLI reach it. */
  url: string;
  /** Its port (browsers' WebSockets). */
  port: number;
  /** The token the control plane reads stored output with. */
  readToken: string;
}

export interface OutputDeps {
  logger: Logger;
  keys: OutputKeys;
  dataDir: string;
  /** Secret values released to a task, masked at ingest by the in-process output-processor. */
  secretsFor: (taskId: string) => Promise<string[]>;
  /** Who a read request is (token or session), for reads by users. */
  principalOf: (req: IncomingMessage) => Promise<Principal | null>;
  /** The in-process output-processor's certificate and key (PEM), when it serves TLS. */
  tls?: { cert: string; key: string };
}

/**
 * The output side of `drover up`: the in-process output-processor (default), or with
 * `DROVER_OUTPUT_EMBEDDED=false` the separate one(s) at `DROVER_OUTPUT_URL`, which share this
 * instance's token secret, read token and Pusher keys (all required then, so that every
 * control-plane instance signs what every output-processor accepts).
 */
export async function startOutput(config: ServerConfig, deps: OutputDeps): Promise<OutputSide> {
  if (!config.outputEmbedded) return remoteOutput(config);
  const readToken = config.outputReadToken ?? randomBytes(24).toString("base64url");
  const readAuth = Buffer.from(`Bearer ${readToken}`);
  const make = (port: number): OutputProcessor =>
    createOutputProcessor(
      {
        port,
        host: config.outputHost,
        ...(deps.tls ? { tls: deps.tls } : {}),
        allowPlaintext: config.allowPlaintext,
        ...(config.redisUrl ? { redisUrl: config.redisUrl } : {}),
        dataDir: deps.dataDir,
        pusher: { appKey: deps.keys.pusherAppKey, appSecret: deps.keys.pusherAppSecret },
      },
      {
        logger: deps.logger,
        verifier: new HmacTaskTokenVerifier(deps.keys.tokenSecret, deps.secretsFor),
        // The control plane (its read token) and users who may see the task's project.
        authorizeRead: async (req, task) => {
          const given = Buffer.from(req.headers.authorization ?? "");
          if (given.length === readAuth.length && timingSafeEqual(given, readAuth)) return true;
          const who = await deps.principalOf(req);
          return who !== null && canSeeProject(who, task.projectId);
        },
      },
    );
  let processor = make(config.outputPort ?? DEFAULT_OUTPUT_PORT);
  let port: number;
  try {
    port = await processor.listen();
  } catch (err) {
    await processor.close().catch(() => undefined);
    // The default port is taken (another instance here): any free port will do.
    if (config.outputPort !== undefined || (err as NodeJS.ErrnoException).code !== "EADDRINUSE") {
      throw err;
    }
    processor = make(0);
    port = await processor.listen();
    deps.logger.warn(
      { port },
      `port ${DEFAULT_OUTPUT_PORT} is taken; the output-processor uses ${port}`,
    );
  }
  const host = /^(0\.0\.0\.0|::|)$/.test(config.outputHost) ? "127.0.0.1" : config.outputHost;
  const scheme = deps.tls ? "https" : "http";
  const url = config.outputUrl ?? `${scheme}://${host.includes(":") ? `[${host}]` : host}:${port}`;
  return { processor, url, port, readToken };
}

function remoteOutput(config: ServerConfig): OutputSide {
  const required = {
    DROVER_OUTPUT_URL: config.outputUrl,
    DROVER_OUTPUT_TOKEN_SECRET: config.outputTokenSecret,
    DROVER_OUTPUT_READ_TOKEN: config.outputReadToken,
    DROVER_PUSHER_APP_KEY: config.pusherAppKey,
    DROVER_PUSHER_APP_SECRET: config.pusherAppSecret,
  };
  const missing = Object.entries(required).filter(([, v]) => !v);
  if (missing.length > 0) {
    throw new ConfigError(
      `DROVER_OUTPUT_EMBEDDED=false needs ${missing.map(([k]) => k).join(", ")}: every instance shares the output-processor's keys`,
      missing.map(([field]) => ({ field, message: "required with DROVER_OUTPUT_EMBEDDED=false" })),
    );
  }
  const url = new URL(config.outputUrl!);
  const port = Number(url.port) || (url.protocol === "https:" ? 443 : 80);
  return {
    processor: null,
    url: url.href.replace(/\/$/, ""),
    port,
    readToken: config.outputReadToken!,
  };
}
