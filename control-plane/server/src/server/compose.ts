/**
 * The composition root: builds every control-plane service from one config and wires them
 * together. `drover up`, the tests and the benchmarks all start the control plane here.
 *
 * To plug in a route module, add it to `registerRoutes` below (or pass `routes` from the
 * caller); each module exports `registerXRoutes(app, deps)` and receives `ControlPlaneDeps`.
 */
import { createRequire } from "node:module";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { createApiServer, type RequestAuthenticator } from "../api/server.js";
import { registerHookRoutes } from "../api/routes/hooks.js";
import { registerJobOutputRoutes } from "../api/routes/job-output.js";
import { registerJobRoutes } from "../api/routes/jobs.js";
import { registerV1Routes } from "../api/routes/v1.js";
import { registerV1StorageRoutes } from "../api/routes/v1-storage.js";
import { registerCollaborationRoutes } from "../api/routes/collaborations.js";
import { registerMeRoutes } from "../api/routes/me.js";
import { registerPipelineRoutes } from "../api/routes/pipelines.js";
import { registerPipelineRunRoutes } from "../api/routes/pipeline-run.js";
import { registerCompileConfigRoutes } from "../api/routes/compile-config.js";
import { registerInsightsRoutes } from "../api/routes/insights.js";
import { registerProjectRoutes } from "../api/routes/projects.js";
import { registerScheduleRoutes } from "../api/routes/schedules.js";
import { registerTaskRoutes } from "../api/routes/tasks.js";
import { registerTaskStorageRoutes } from "../api/routes/task-storage.js";
import { registerTaskMachineRoutes } from "../api/routes/task-machine.js";
import { registerStatusRoutes } from "../status/index.js";
import {
  artifactOrigin,
  createArtifactServer,
  projectLabel,
  signedArtifactPath,
} from "../artifacts/index.js";
import {
  MachineReleasingScheduler,
  tendTaskMachines,
  type TaskMachines,
} from "../machines/index.js";
import { registerTokenRoutes } from "../api/routes/tokens.js";
import { registerWorkflowRoutes } from "../api/routes/workflows.js";
import { TokenAuthenticator } from "../auth/principal.js";
import { dataPaths, type ServerConfig } from "../config/server-config.js";
import type { ServiceUrls } from "../config/urls.js";
import { openDatabase } from "../db/open.js";
import type { Database } from "../db/types.js";
import { WorkflowEngine } from "../engine/engine.js";
import { TaskService, type TaskSecretsProvider } from "../engine/task-service.js";
import { GitConfigFetcher } from "../git/fetch.js";
import { TriggerService, type CompileFn } from "../pipelines/trigger.js";
import { CompilePool } from "../pipelines/compile-pool.js";
import { LocalScheduler } from "../scheduler/local/local.js";
import type { BlobStore } from "../storage/blob-store.js";
import { DiskBlobStore } from "../storage/disk-blob-store.js";
import { S3BlobStore } from "../storage/s3-blob-store.js";
import { TaskStorage } from "../storage/task-storage.js";
import { visibleProject } from "../api/access.js";
import { principalOf } from "../api/server.js";
import { getJobByNumber } from "../model/workflows.js";
import type { SchedulerBackend } from "../scheduler/types.js";
import { ScheduleRunner } from "../schedules/runner.js";
import { registerUserAdminRoutes } from "../users/admin-routes.js";

/** This package's version, on /healthz (`drover doctor` reports it). */
const VERSION = (createRequire(import.meta.url)("../../package.json") as { version: string })
  .version;
import { bootstrapAdmin } from "./bootstrap.js";
import { controlPlaneTls, type ControlPlaneTls } from "./tls.js";

/** Everything a route module may use. */
export interface ControlPlaneDeps {
  config: ServerConfig;
  logger: Logger;
  db: Database;
  urls: ServiceUrls;
  scheduler: SchedulerBackend;
  engine: WorkflowEngine;
  tasks: TaskService;
  trigger: TriggerService;
  /** The compiler the trigger uses (worker threads by default), for config validation routes. */
  compile: CompileFn;
  schedules: ScheduleRunner;
  /** Artifacts, tests, caches and workspaces uploaded by tasks (`<dataDir>/blobs`). */
  storage: TaskStorage;
  /** The output-processor serving live output, when one runs (`startDrover`). */
  output?: OutputInfo;
  /** The clock of schedules and token expiry (`ComposeOptions.now`, else the system's). */
  now: () => Date;
  /** Machines of `machine` jobs and `setup_remote_docker` (vm-service), when configured. */
  machines?: TaskMachines;
  /** Signed artifact URLs on per-project origins (the artifact server). */
  artifacts?: ArtifactLinks;
  /** What this server serves TLS with and the CA its clients of Drover's services trust. */
  tls?: ControlPlaneTls;
}

/** Where the output-processor is and the Pusher keys its browsers' channels are signed with. */
export interface OutputInfo {
  /** Base URL of ingest, log reads and Pusher WebSockets (`/app/<pusherAppKey>`). */
  url: string;
  port: number;
  pusherAppKey: string;
  /** For `signChannelAuth` only; never sent to a browser. */
  pusherAppSecret: string;
  /** Service token of the log routes, for step output served by the control plane. */
  readToken?: string;
}

export type RouteModule = (app: FastifyInstance, deps: ControlPlaneDeps) => void | Promise<void>;

export interface ComposeOptions {
  config: ServerConfig;
  logger: Logger;
  /** Defaults: the configured database, the local scheduler, the compiler in worker threads. */
  db?: Database;
  scheduler?: SchedulerBackend;
  compile?: CompileFn;
  /** Project/context environment and secrets for claimed tasks (the secrets engine). */
  secrets?: TaskSecretsProvider;
  /** HMAC output tokens (the output-processor); default random. */
  mintOutputToken?: (
    taskId: string,
    task: { jobId: string; projectId: string },
  ) => string | Promise<string>;
  /** The running output-processor, handed to route modules as `deps.output`. */
  output?: OutputInfo;
  /** Clock of the schedule runner and of API token expiry (tests control it). */
  now?: () => Date;
  /** Other ways to authenticate users (session cookies), tried when no API token is sent. */
  authenticators?: RequestAuthenticator[];
  /** Extra route modules, registered after the built-in ones. */
  routes?: RouteModule[];
  /** vm-service's machines; without it, machine leases answer `DROVER_ERR_MACHINES_UNAVAILABLE`. */
  machines?: TaskMachines;
  /** TLS already read by the caller (`startDrover`); default: read from `config`. */
  tls?: ControlPlaneTls;
}

/** How often machines of tasks are tended: released when the task is over, renewed while it runs. */
const MACHINE_BACKSTOP_MS = 60_000;

export interface ControlPlane extends ControlPlaneDeps {
  app: FastifyInstance;
  /** The listen URL. */
  url: string;
  /** The admin token, only on the first start of an empty database. */
  bootstrapToken: string | null;
  /** Stops accepting requests and background work; running tasks keep running. */
  close(): Promise<void>;
}

/** Where artifacts are served, as links the API hands out. */
export interface ArtifactLinks {
  /** The artifact server's origin pattern (`{project}` per project). */
  origin: string;
  /** A signed URL of the artifact, or undefined when there is none. */
  urlFor(slug: string, jobId: string, node: number, path: string): Promise<string | undefined>;
}

/** Rendered on the project's origin in a sandbox; everything else may come from the bucket. */
const RENDERED = /\.(html?|xhtml)$/i;

const DEFAULT_ARTIFACTS_PORT = 8081;

/** A key from the config, else one generated once and kept (0600). */
async function artifactsKey(config: ServerConfig): Promise<Buffer> {
  if (config.artifactsSigningKey) return Buffer.from(config.artifactsSigningKey);
  const file = dataPaths(config).artifactsKey;
  try {
    const stored = (await readFile(file, "utf8")).trim();
    if (stored.length >= 43) return Buffer.from(stored);
  } catch {
    // first start
  }
  const key = randomBytes(32).toString("base64url");
  await writeFile(file, `${key}\n`, { mode: 0o600 });
  return Buffer.from(key);
}

/** Starts the artifact server (8081, or a free port when that is taken and none was asked for). */
async function startArtifacts(
  config: ServerConfig,
  storage: TaskStorage,
  blobs: BlobStore,
  logger: Logger,
  https?: { cert: string; key: string },
): Promise<{ links: ArtifactLinks; close(): Promise<void> }> {
  const key = await artifactsKey(config);
  const make = () =>
    createArtifactServer({
      key,
      logger,
      ...(https ? { https } : {}),
      getArtifact: (jobId, node, path) => storage.getArtifact(jobId, node, path),
    });
  let server = make();
  let address: string;
  try {
    address = await server.listen({
      host: config.host,
      port: config.artifactsPort ?? DEFAULT_ARTIFACTS_PORT,
    });
  } catch (err) {
    await server.close().catch(() => undefined);
    if (
      config.artifactsPort !== undefined ||
      (err as NodeJS.ErrnoException).code !== "EADDRINUSE"
    ) {
      throw err;
    }
    server = make();
    address = await server.listen({ host: config.host, port: 0 });
    logger.warn({ address }, `port ${DEFAULT_ARTIFACTS_PORT} is taken; artifacts use another`);
  }
  const port = new URL(address).port;
  const origin =
    config.artifactsOrigin ?? `${https ? "https" : "http"}://{project}.localhost:${port}`;
  const ttl = config.artifactsUrlTtlSeconds;
  const running = server;
  return {
    links: {
      origin,
      urlFor: async (slug, jobId, node, path) => {
        const found = await storage.findArtifact(jobId, node, path);
        if (!found) return undefined;
        if (blobs instanceof S3BlobStore && !RENDERED.test(path)) {
          return blobs.presignedGetUrl(found.blobKey, {
            expiresInSeconds: ttl,
            filename: path.split("/").pop() ?? "artifact",
          });
        }
        return (
          artifactOrigin(origin, slug) +
          signedArtifactPath(key, {
            label: projectLabel(slug),
            jobId,
            node,
            path,
            expires: Math.floor(Date.now() / 1000) + ttl,
          })
        );
      },
    },
    close: async () => {
      await running.close();
      if (blobs instanceof S3BlobStore) blobs.close();
    },
  };
}

/** This instance's id, kept in `<dataDir>/instance-id` so a restart adopts its own local tasks. */
async function instanceId(root: string): Promise<string> {
  const file = join(root, "instance-id");
  try {
    const id = (await readFile(file, "utf8")).trim();
    if (id) return id;
  } catch {
    // first start
  }
  const id = randomUUID();
  await writeFile(file, `${id}\n`);
  return id;
}

/** The built-in route modules. Add a module here to have it on every server. */
async function registerRoutes(app: FastifyInstance, deps: ControlPlaneDeps): Promise<void> {
  registerTaskRoutes(app, deps);
  registerTaskMachineRoutes(app, deps);
  registerPipelineRoutes(app, deps);
  registerPipelineRunRoutes(app, deps);
  registerCompileConfigRoutes(app, {
    compile: deps.compile,
    ...(deps.config.orbsDir ? { orbsDir: deps.config.orbsDir } : {}),
  });
  registerInsightsRoutes(app, deps);
  registerWorkflowRoutes(app, deps);
  registerJobRoutes(app, deps);
  registerJobOutputRoutes(app, {
    ...deps,
    outputSource: () => {
      const url = deps.output?.url ?? deps.config.outputUrl;
      const readToken = deps.output?.readToken ?? deps.config.outputReadToken;
      const dispatcher = deps.tls?.dispatcher;
      return url
        ? { url, ...(readToken ? { readToken } : {}), ...(dispatcher ? { dispatcher } : {}) }
        : null;
    },
  });
  registerV1Routes(app, {
    ...deps,
    outputSource: () => {
      const url = deps.output?.url ?? deps.config.outputUrl;
      const readToken = deps.output?.readToken ?? deps.config.outputReadToken;
      const dispatcher = deps.tls?.dispatcher;
      return url
        ? { url, ...(readToken ? { readToken } : {}), ...(dispatcher ? { dispatcher } : {}) }
        : null;
    },
  });
  registerV1StorageRoutes(app, deps);
  registerMeRoutes(app, deps);
  registerCollaborationRoutes(app, deps);
  registerProjectRoutes(app, deps);
  registerTokenRoutes(app, deps);
  registerUserAdminRoutes(app, deps);
  registerScheduleRoutes(app, deps);
  await registerHookRoutes(app, deps);
  registerTaskStorageRoutes(app, {
    storage: deps.storage,
    authenticateTask: async (taskId, session) => {
      const task = await deps.tasks.authenticate(taskId, session);
      if (!task) return null;
      return {
        taskId,
        jobId: task.jobId,
        workflowId: task.workflowId,
        projectSlug: task.projectSlug,
        nodeIndex: task.nodeIndex,
        upstreamJobIds: await deps.tasks.upstreamJobIds(task.jobId),
      };
    },
    findJob: async (req, slug, number) => {
      const project = await visibleProject(deps.db, principalOf(req), slug).catch(() => null);
      const job = project ? await getJobByNumber(deps.db, project.id, number) : null;
      return job ? { jobId: job.id } : null;
    },
    get baseUrl() {
      return deps.urls.public;
    },
    ...(deps.artifacts ? { artifactUrl: deps.artifacts.urlFor } : {}),
  });
  registerStatusRoutes(app, {
    db: deps.db,
    ...(deps.output ? { outputUrl: deps.output.url } : {}),
    ...(deps.tls?.dispatcher ? { dispatcher: deps.tls.dispatcher } : {}),
    ...(deps.machines ? { machines: deps.machines } : {}),
  });
  // The CLI learns where live output is read from here.
  app.get("/healthz", { config: { auth: "none" } }, async (_req, reply) => {
    void reply.header("x-drover-version", VERSION);
    return {
      status: "ok",
      version: VERSION,
      ...(deps.output ? { output_url: deps.output.url } : {}),
    };
  });
}

/** Opens state, builds the services, registers routes, listens, then starts the engine. */
export async function startControlPlane(opts: ComposeOptions): Promise<ControlPlane> {
  const { config, logger } = opts;
  // Before any state opens: a bad certificate or a plaintext public bind fails fast, saying why.
  const tls = opts.tls ?? controlPlaneTls(config);
  const paths = dataPaths(config);
  await mkdir(paths.root, { recursive: true });
  const ownDb = !opts.db;
  const db =
    opts.db ??
    (await openDatabase(
      config.databaseUrl ? { url: config.databaseUrl } : { dataDir: paths.pglite },
    ));
  const backend =
    opts.scheduler ??
    new LocalScheduler({
      logger,
      stateDir: paths.agents,
      ...(config.agentCommand ? { agentCommand: config.agentCommand } : {}),
    });
  // A task's machine goes when the task is canceled or final.
  const scheduler = opts.machines
    ? new MachineReleasingScheduler(backend, opts.machines, logger)
    : backend;
  const urls: ServiceUrls = {
    controlPlane: config.internalUrl ?? "",
    public: config.publicUrl ?? "",
    output: config.outputUrl ?? "http://127.0.0.1:8585",
  };
  const engine = new WorkflowEngine({
    db,
    scheduler,
    logger,
    urls,
    tickIntervalMs: config.tickIntervalMs,
    ...(scheduler.name === "local" ? { instanceId: await instanceId(paths.root) } : {}),
    ...(opts.secrets ? { access: opts.secrets } : {}),
  });
  const tasks = new TaskService({
    db,
    engine,
    logger,
    urls,
    ...(opts.secrets ? { secrets: opts.secrets } : {}),
    ...(opts.mintOutputToken ? { mintOutputToken: opts.mintOutputToken } : {}),
  });
  // Compiles run in worker threads: a slow config never holds up other requests.
  const compilePool = opts.compile ? undefined : new CompilePool({ logger });
  const compile = opts.compile ?? compilePool!.compile;
  const trigger = new TriggerService({
    db,
    engine,
    logger,
    fetcher: new GitConfigFetcher(paths.git),
    compile,
    ...(config.orbsDir ? { orbsDir: config.orbsDir } : {}),
  });
  const schedules = new ScheduleRunner({
    db,
    trigger,
    logger,
    ...(opts.now ? { now: opts.now } : {}),
  });
  const blobs = config.blobS3Bucket
    ? new S3BlobStore({
        bucket: config.blobS3Bucket,
        region: config.blobS3Region,
        prefix: config.blobS3Prefix,
        ...(config.blobS3Endpoint ? { endpoint: config.blobS3Endpoint } : {}),
      })
    : new DiskBlobStore(join(paths.root, "blobs"));
  const storage = new TaskStorage({ db, blobs });
  const artifacts = await startArtifacts(config, storage, blobs, logger, tls.server);
  const deps: ControlPlaneDeps = {
    config,
    logger,
    db,
    urls,
    scheduler: backend,
    engine,
    tasks,
    trigger,
    compile,
    schedules,
    storage,
    ...(opts.output ? { output: opts.output } : {}),
    ...(opts.machines ? { machines: opts.machines } : {}),
    artifacts: artifacts.links,
    tls,
    now: opts.now ?? (() => new Date()),
  };
  const app = createApiServer({
    logger,
    authenticator: new TokenAuthenticator(db, { now: deps.now }),
    tasks,
    ...(opts.authenticators ? { authenticators: opts.authenticators } : {}),
    ...(tls.server ? { https: tls.server } : {}),
  });
  await registerRoutes(app, deps);
  for (const mod of opts.routes ?? []) await mod(app, deps);

  const bootstrapToken = await bootstrapAdmin(db);
  const address = await app.listen({ host: config.host, port: config.port });
  const url = address.replace("[::1]", "127.0.0.1");
  urls.controlPlane ||= url;
  urls.public ||= url;
  await engine.start();
  if (config.scheduleTickMs > 0) schedules.start(config.scheduleTickMs);
  const sweep = (): void => {
    storage
      .expire({
        caches: config.cacheRetentionDays,
        artifacts: config.artifactRetentionDays,
        workspaces: config.workspaceRetentionDays,
      })
      .then(
        (removed) => {
          if (removed.caches + removed.artifacts + removed.workspaces > 0) {
            logger.info({ removed }, "expired uploads deleted");
          }
        },
        (err: unknown) => logger.warn({ err }, "deleting expired uploads failed"),
      );
  };
  // Soon after start (a server restarted more often than the period still sweeps), then periodically.
  const sweepers =
    config.retentionSweepMs > 0
      ? [setTimeout(sweep, 10_000).unref(), setInterval(sweep, config.retentionSweepMs).unref()]
      : [];
  const { machines } = opts;
  if (machines) {
    const backstop = (): void => {
      tendTaskMachines(db, machines, logger, deps.now).catch((err: unknown) =>
        logger.warn({ err }, "tending the machines of tasks failed"),
      );
    };
    sweepers.push(setInterval(backstop, MACHINE_BACKSTOP_MS).unref());
  }
  logger.info({ url }, "control plane listening");

  let closed = false;
  return {
    ...deps,
    app,
    url,
    bootstrapToken,
    async close() {
      if (closed) return;
      closed = true;
      for (const t of sweepers) clearTimeout(t);
      schedules.stop();
      await app.close();
      await artifacts.close();
      await engine.stop();
      await schedules.idle();
      await compilePool?.close();
      await tls.dispatcher?.close();
      await scheduler.close();
      if (ownDb) await db.close();
    },
  };
}
