import { createRequire } from "node:module";
import { createServer, type IncomingMessage, type RequestListener, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { checkConnect, checkListen } from "@drover/tls";
import type { Logger } from "pino";
import type { TaskTokenVerifier } from "./auth/token.js";
import { parseOutputConfig, type OutputConfigInput } from "./config.js";
import { fail, handleLogRequest, type ReadAuthorizer } from "./http/log-routes.js";
import { BadRequest, requestUrl } from "./http/request.js";
import { IngestServer } from "./ingest/server.js";
import { INGEST_PATH } from "./protocol/ingest.js";
import { MemoryPubSub } from "./pubsub/memory.js";
import { RedisPubSub } from "./pubsub/redis.js";
import type { PubSub } from "./pubsub/types.js";
import { PusherServer } from "./pusher/server.js";
import { FsLogStore } from "./store/fs-store.js";
import { ObjectLogStore } from "./store/object-store.js";
import { MemoryLiveWindow, RedisLiveWindow, type LiveWindow } from "./store/live-window.js";
import type { LogStore } from "./store/types.js";

/** This package's version, sent on /healthz (`drover doctor` reports it). */
const VERSION = (createRequire(import.meta.url)("../package.json") as { version: string }).version;
import { createOutputMetrics } from "./metrics/index.js";
import { projectChannel, type ProjectEvent } from "./fanout/messages.js";

type Check = { ok: boolean; detail: string };

/** Each dependency answers within 2 s: the log store (a listing) and pub/sub (a publish). */
async function readiness(store: LogStore, pubsub: PubSub): Promise<Record<string, Check>> {
  const probe = async (fn: () => Promise<unknown>): Promise<Check> => {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([
        fn(),
        new Promise((_r, reject) => {
          timer = setTimeout(() => reject(new Error("no answer in 2 s")), 2_000);
        }),
      ]);
      return { ok: true, detail: "ok" };
    } catch (err) {
      return { ok: false, detail: err instanceof Error ? err.message : String(err) };
    } finally {
      clearTimeout(timer);
    }
  };
  const [logStore, pubSub] = await Promise.all([
    probe(() => store.listJobTasks("readyz-probe")),
    probe(() => pubsub.publish("drover:readyz", "ping")),
  ]);
  return { logStore: logStore!, pubSub: pubSub! };
}

export interface OutputProcessorDeps {
  logger: Logger;
  /** Checks agents' ingest tokens (see `HmacTaskTokenVerifier`). */
  verifier: TaskTokenVerifier;
  /** Checks log reads over HTTP. */
  authorizeRead: ReadAuthorizer;
  /** Overrides the filesystem store built from `dataDir` (object storage, for example). */
  store?: LogStore;
}

export interface OutputProcessor {
  /** Starts listening; resolves with the bound port. */
  listen(): Promise<number>;
  /** Closes agent and browser connections (they reconnect elsewhere), then the backbone. */
  close(): Promise<void>;
  /** The bound port (after `listen`). */
  readonly port: number;
  readonly server: Server;
  /**
   * Publishes a control plane event on a project's backbone channel; browsers subscribed to
   * `private-project-<projectId>` get it as a `status` event (see `ProjectEvent`).
   */
  publishProjectEvent(projectId: string, event: ProjectEvent): Promise<void>;
}

/**
 * The output-processor on one port: agents' ingest WebSockets at `/output/v1/ingest`, browsers'
 * Pusher-protocol WebSockets at `/app/<key>`, log reads at `/output/v1/tasks/{id}/log|raw`.
 */
export function createOutputProcessor(
  configInput: OutputConfigInput,
  deps: OutputProcessorDeps,
): OutputProcessor {
  const config = parseOutputConfig(configInput);
  checkListen({
    service: "the output-processor",
    host: config.host,
    tls: config.tls !== undefined,
    allowPlaintext: config.allowPlaintext,
    hostVariable: "DROVER_OUTPUT_HOST",
  });
  if (config.redisUrl) {
    checkConnect({
      peer: "Redis",
      url: config.redisUrl,
      allowPlaintext: config.allowPlaintext,
      variable: "REDIS_URL",
    });
  }
  const logger = deps.logger.child({ service: "output-processor" });
  const limits = { maxTaskBytes: config.maxTaskBytes, chunkBytes: config.chunkBytes };
  const { objectStore } = config;
  const store =
    deps.store ??
    (objectStore
      ? new ObjectLogStore({
          dir: config.dataDir,
          ...limits,
          s3: objectStore,
          keepLocal: objectStore.keepLocal,
          logger,
        })
      : new FsLogStore({ dir: config.dataDir, ...limits }));
  let pubsub: PubSub;
  let window: LiveWindow;
  if (config.redisUrl) {
    const redis = new RedisPubSub(config.redisUrl, { logger });
    pubsub = redis;
    window = new RedisLiveWindow(redis.client, config.channelPrefix, {
      maxEntries: config.windowEntries,
      maxBytes: config.windowBytes,
    });
  } else {
    pubsub = new MemoryPubSub();
    window = new MemoryLiveWindow({
      maxEntries: config.windowEntries,
      maxBytes: config.windowBytes,
    });
  }
  const shared = { store, window, pubsub, channelPrefix: config.channelPrefix };
  // Read when scraped, after both servers exist.
  const metrics = createOutputMetrics({
    agents: () => ingest.connections,
    browsers: () => pusher.conns.size,
  });
  const ingest = new IngestServer({
    ...shared,
    verifier: deps.verifier,
    logger,
    onStored: (frames, lines) => {
      metrics.framesStored.inc(frames);
      metrics.linesStored.inc(lines);
    },
  });
  const pusher = new PusherServer(config.pusher, { ...shared, logger });
  const registry = metrics.registry;

  const handle: RequestListener = (req, res) => {
    void (async () => {
      try {
        const url = requestUrl(req);
        if (url.pathname === "/healthz") {
          res
            .writeHead(200, { "content-type": "text/plain", "x-drover-version": VERSION })
            .end("ok\n");
          return;
        }
        if (url.pathname === "/metrics" && req.method === "GET") {
          const body = await registry.metrics();
          res.writeHead(200, { "content-type": registry.contentType }).end(body);
          return;
        }
        if (url.pathname === "/readyz") {
          // Ready when the log store answers and, with Redis, pub/sub is connected.
          const checks = await readiness(store, pubsub);
          const ok = Object.values(checks).every((c) => c.ok);
          res
            .writeHead(ok ? 200 : 503, { "content-type": "application/json" })
            .end(JSON.stringify({ status: ok ? "ready" : "not ready", checks }));
          return;
        }
        const logDeps = { store, authorize: deps.authorizeRead, logger };
        if (await handleLogRequest(req, res, url, logDeps)) return;
        fail(res, 404, "DROVER_ERR_OUTPUT_NOT_FOUND", "no such route");
      } catch (err) {
        if (err instanceof BadRequest && !res.headersSent) {
          fail(res, 400, "DROVER_ERR_OUTPUT_QUERY", err.message, err.field);
          return;
        }
        logger.error({ err, url: req.url }, "request failed");
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ code: "DROVER_ERR_OUTPUT_STORE", message: "internal error" }));
      }
    })();
  };
  const server: Server = config.tls ? createHttpsServer(config.tls, handle) : createServer(handle);
  server.on("upgrade", (req: IncomingMessage, socket, head: Buffer) => {
    const path = (req.url ?? "/").split("?")[0];
    if (path === INGEST_PATH) ingest.handleUpgrade(req, socket, head);
    else if (path?.startsWith("/app/")) pusher.handleUpgrade(req, socket, head);
    else socket.destroy();
  });

  let port = 0;
  return {
    server,
    get port() {
      return port;
    },
    publishProjectEvent: (projectId, event) =>
      pubsub.publish(projectChannel(config.channelPrefix, projectId), JSON.stringify(event)),
    listen: () =>
      new Promise<number>((resolve, reject) => {
        server.once("error", reject);
        server.listen(config.port, config.host, () => {
          server.off("error", reject);
          port = (server.address() as AddressInfo).port;
          logger.info({ port, tls: config.tls !== undefined }, "output-processor listening");
          resolve(port);
        });
      }),
    close: async () => {
      await pusher.close();
      await ingest.close();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
      await pubsub.close();
      await window.close();
    },
  };
}
