/**
 * Every service of `drover up` in one process: the secrets module, the output-processor, the
 * scheduler (Nomad when `NOMAD_ADDR` is set, else local agents) and the control plane, wired
 * together. `startControlPlane` alone is the bare core the unit tests use.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import type { IncomingMessage } from "node:http";
import type { Logger } from "pino";
import {
  redisProjectEventPublisher,
  signOutputToken,
  type OutputProcessor,
} from "@drover/output-processor";
import { TokenAuthenticator, type Principal } from "../auth/principal.js";
import {
  nomadSettingsFromEnv,
  secretStoreConfigFromEnv,
  vmSettingsFromEnv,
  type NomadSettings,
  type VmSettings,
} from "../config/load.js";
import { dataPaths, type ServerConfig } from "../config/server-config.js";
import { createSecretsModule, type SecretsModule } from "../contexts/module.js";
import { openDatabase } from "../db/open.js";
import type { Database } from "../db/types.js";
import type { TaskSecretsProvider } from "../engine/task-service.js";
import { startMachines, type MachinesHandle } from "../machines/embedded.js";
import { LocalScheduler } from "../scheduler/local/local.js";
import { NomadScheduler } from "../scheduler/nomad/backend.js";
import { QueueScheduler } from "../scheduler/queue/scheduler.js";
import { ConfigError } from "../config/errors.js";
import { startOutput, type OutputKeys } from "./output.js";
import { registerNomadAdminRoutes } from "../scheduler/nomad/admin-routes.js";
import type { SchedulerBackend } from "../scheduler/types.js";
import type { SecretStoreConfig } from "../secrets/config.js";
import { SECRET_LOG_REDACT_PATHS } from "../secrets/redact.js";
import { loginLimitsOf } from "../users/config.js";
import { UsersError } from "../users/errors.js";
import { trustedOriginSet } from "../users/origin.js";
import { readSessionCookie } from "../users/sessions.js";
import { registerWebRoutes } from "../web/index.js";
import { publishWorkflowChanges, type PublishProjectEvent } from "../web/live.js";
import { startControlPlane, type ControlPlane, type RouteModule } from "./compose.js";
import { checkPeers, controlPlaneTls } from "./tls.js";

/** pino `redact.paths` of the root logger: tokens, sessions and every path that may hold a secret. */
export const ROOT_LOG_REDACT_PATHS: readonly string[] = [
  "*.token",
  "*.taskToken",
  "*.session",
  "req.headers.authorization",
  'req.headers["circle-token"]',
  ...SECRET_LOG_REDACT_PATHS,
];

/** How long an agent's output token stays valid (reconnects after that are refused). */
const OUTPUT_TOKEN_TTL_MS = 24 * 3600_000;
/** Secret values remembered per task for the output-processor's masking (oldest dropped first). */
const MAX_REMEMBERED_TASKS = 10_000;

export interface DroverOptions {
  config: ServerConfig;
  logger: Logger;
  /** The secret store (`loadConfig(env).secretStore`); default: parsed from `env`. */
  secretStore?: SecretStoreConfig;
  /** Nomad, or null for local agents (`loadConfig(env).nomad`); default: parsed from `env`. */
  nomad?: NomadSettings | null;
  /**
   * The environment local agents start from (scrubbed of credentials by `agentEnv`), and where
   * `secretStore` and `nomad` are parsed from when not given; default `process.env`.
   */
  env?: Record<string, string | undefined>;
  /** vm-service (`loadConfig(env).vm`); default: parsed from `env`. */
  vm?: VmSettings;
  /** Overrides the scheduler chosen from the environment (tests wrap the local one). */
  scheduler?: SchedulerBackend;
  /** More route modules (the web UI's), registered after the built-in ones. */
  routes?: RouteModule[];
}

export interface Drover {
  cp: ControlPlane;
  /** The in-process output-processor; null when a separate one serves (`DROVER_OUTPUT_EMBEDDED=false`). */
  output: OutputProcessor | null;
  /** The URL agents and the CLI reach the output-processor at. */
  outputUrl: string;
  secrets: SecretsModule;
  /** vm-service (embedded or remote), or null when machines are off. */
  vm: MachinesHandle | null;
  close(): Promise<void>;
}

/** Output token and Pusher keys: from the config, else generated once and kept (0600). */
async function outputKeys(config: ServerConfig, file: string): Promise<OutputKeys> {
  let stored: Partial<OutputKeys> = {};
  try {
    stored = JSON.parse(await readFile(file, "utf8")) as Partial<OutputKeys>;
  } catch {
    // first start
  }
  const keys: OutputKeys = {
    tokenSecret: stored.tokenSecret ?? randomBytes(32).toString("base64url"),
    pusherAppKey: stored.pusherAppKey ?? `drover-${randomBytes(8).toString("hex")}`,
    pusherAppSecret: stored.pusherAppSecret ?? randomBytes(32).toString("base64url"),
  };
  if (
    keys.tokenSecret !== stored.tokenSecret ||
    keys.pusherAppKey !== stored.pusherAppKey ||
    keys.pusherAppSecret !== stored.pusherAppSecret
  ) {
    await writeFile(file, `${JSON.stringify(keys, null, 2)}\n`, { mode: 0o600 });
  }
  return {
    tokenSecret: config.outputTokenSecret ?? keys.tokenSecret,
    pusherAppKey: config.pusherAppKey ?? keys.pusherAppKey,
    pusherAppSecret: config.pusherAppSecret ?? keys.pusherAppSecret,
  };
}

/** The API token of a request (`Circle-Token` or `Authorization: Bearer`). */
function tokenOf(req: IncomingMessage): string | undefined {
  const circle = req.headers["circle-token"];
  if (typeof circle === "string" && circle) return circle;
  const auth = req.headers.authorization;
  const m = typeof auth === "string" ? /^Bearer\s+(\S+)$/i.exec(auth) : null;
  return m?.[1];
}

/**
 * Wraps the secrets provider so that the values released to a task at claim time are also known
 * to the in-process output-processor, which masks them at ingest (defence in depth behind the
 * agent). Only kept in memory; after a restart the agent's own masking remains.
 */
function rememberingProvider(inner: TaskSecretsProvider): {
  provider: TaskSecretsProvider;
  secretsFor: (taskId: string) => Promise<string[]>;
} {
  const byTask = new Map<string, string[]>();
  const provider: TaskSecretsProvider = {
    async forTask(input) {
      const out = await inner.forTask(input);
      byTask.set(input.taskId, out.secrets);
      if (byTask.size > MAX_REMEMBERED_TASKS) {
        const oldest = byTask.keys().next().value;
        if (oldest !== undefined) byTask.delete(oldest);
      }
      return out;
    },
    ...(inner.checkAccess ? { checkAccess: inner.checkAccess.bind(inner) } : {}),
  };
  return { provider, secretsFor: async (taskId) => byTask.get(taskId) ?? [] };
}

function chooseScheduler(
  opts: DroverOptions,
  nomad: NomadSettings | null,
  env: Record<string, string | undefined>,
  db: Database,
  ca: string | undefined,
): SchedulerBackend {
  if (opts.scheduler) return opts.scheduler;
  const { config, logger } = opts;
  const kind = config.scheduler ?? (nomad ? "nomad" : "local");
  if (kind === "queue") {
    if (db.kind !== "postgres") {
      throw new ConfigError(
        "DROVER_SCHEDULER=queue needs PostgreSQL (DATABASE_URL): runners share its queue",
        [{ field: "DROVER_SCHEDULER", message: "queue needs DATABASE_URL" }],
      );
    }
    return new QueueScheduler({ db, logger });
  }
  if (kind === "nomad") {
    if (!nomad) {
      throw new ConfigError("DROVER_SCHEDULER=nomad needs NOMAD_ADDR", [
        { field: "NOMAD_ADDR", message: "required with DROVER_SCHEDULER=nomad" },
      ]);
    }
    // Agents on Nomad clients have no file of the CA: their jobs carry it.
    const jobSpec = ca ? { ...nomad.jobSpec, agentCa: ca } : nomad.jobSpec;
    return NomadScheduler.fromConfig(nomad.client, jobSpec, logger);
  }
  return new LocalScheduler({
    logger,
    stateDir: dataPaths(config).agents,
    ...(config.agentCommand ? { agentCommand: config.agentCommand } : {}),
    baseEnv: env,
    // The sweeper is the real agent's `sweep`; a custom agent command may not have one.
    sweep: !config.agentCommand,
  });
}

/** Opens the state, starts every service and wires them; `close` stops them in order. */
export async function startDrover(opts: DroverOptions): Promise<Drover> {
  const { config, logger } = opts;
  const env = opts.env ?? process.env;
  const paths = dataPaths(config);
  // Parsed before anything starts, so a bad variable fails fast and names itself.
  const secretStore = opts.secretStore ?? secretStoreConfigFromEnv(env, { dataDir: paths.root });
  const nomad = opts.nomad !== undefined ? opts.nomad : nomadSettingsFromEnv(env);
  const vmSettings = opts.vm ?? vmSettingsFromEnv(env);
  // Certificates read and plaintext refused before anything starts, saying why.
  const tls = controlPlaneTls(config);
  checkPeers(config, {
    vault: secretStore.kind === "vault" ? secretStore.addr : undefined,
    nomad: nomad?.client.address,
    vm: vmSettings.mode === "remote" ? vmSettings.url : undefined,
  });
  await mkdir(paths.root, { recursive: true });
  const db: Database = await openDatabase(
    config.databaseUrl ? { url: config.databaseUrl } : { dataDir: paths.pglite },
  );
  const cleanups: Array<() => Promise<void>> = [() => db.close()];
  const unwind = async () => {
    for (const c of cleanups.splice(0).reverse()) {
      await c().catch((err: unknown) => logger.error({ err }, "shutdown step failed"));
    }
  };
  try {
    const secrets = await createSecretsModule({
      db,
      logger,
      config: secretStore,
      loginLimits: loginLimitsOf(config),
      trustedOrigins: trustedOriginSet([config.publicUrl, ...config.trustedOrigins]),
    });
    cleanups.push(() => secrets.close());
    const keys = await outputKeys(config, paths.outputKeys);
    const { provider, secretsFor } = rememberingProvider(secrets.provider);
    const tokens = new TokenAuthenticator(db);
    // Output reads (GETs): an expired token reads nothing, like an unknown one.
    const principalOf = async (req: IncomingMessage): Promise<Principal | null> => {
      const token = tokenOf(req);
      if (token) {
        return tokens.authenticate(token).catch((err: unknown) => {
          if (err instanceof UsersError) return null;
          throw err;
        });
      }
      const session = readSessionCookie(req.headers.cookie);
      return session ? secrets.sessions.authenticate(session) : null;
    };

    const out = await startOutput(config, {
      logger,
      keys,
      dataDir: paths.output,
      secretsFor,
      principalOf,
      ...(tls.server ? { tls: tls.server } : {}),
    });
    if (out.processor) {
      const running = out.processor;
      cleanups.push(() => running.close());
    }
    const { port, url: outputUrl, readToken } = out;

    const scheduler = chooseScheduler(opts, nomad, env, db, tls.ca);
    const routes: RouteModule[] = [...secrets.routes];
    if (scheduler instanceof NomadScheduler) {
      const ui = nomad?.uiAddress;
      routes.push((app, deps) => registerNomadAdminRoutes(app, deps, ui ? { uiAddress: ui } : {}));
    }
    // The live job page (`/jobs/{id}`) and `POST /api/pusher/auth` for its channels.
    routes.push((app, deps) =>
      registerWebRoutes(app, deps, {
        pusher: {
          appKey: keys.pusherAppKey,
          appSecret: keys.pusherAppSecret,
          wsPort: port,
          // Browsers' live output over WSS when the output-processor serves TLS.
          forceTLS: tls.server !== undefined,
        },
      }),
    );
    routes.push(...(opts.routes ?? []));
    const vm = await startMachines({
      settings: vmSettings,
      db,
      dataDir: paths.root,
      logger,
      ...(tls.server ? { serverTls: tls.server } : {}),
      ...(tls.ca ? { ca: tls.ca } : {}),
    });
    if (vm) cleanups.push(() => vm.close());
    const cp = await startControlPlane({
      config: { ...config, outputUrl },
      logger,
      db,
      tls,
      scheduler,
      secrets: provider,
      mintOutputToken: (taskId, task) =>
        signOutputToken(keys.tokenSecret, {
          taskId,
          jobId: task.jobId,
          projectId: task.projectId,
          expiresAt: Date.now() + OUTPUT_TOKEN_TTL_MS,
        }),
      authenticators: [secrets.authenticator],
      routes,
      ...(vm ? { machines: vm.machines } : {}),
      output: {
        url: outputUrl,
        port,
        pusherAppKey: keys.pusherAppKey,
        pusherAppSecret: keys.pusherAppSecret,
        readToken,
      },
    });
    cleanups.push(() => cp.close());
    // Pages follow workflow status on the project's Pusher channel: through the in-process
    // output-processor, or the Redis that separate ones share (without Redis, pages poll).
    const processor = out.processor;
    const remote =
      !processor && config.redisUrl
        ? redisProjectEventPublisher(config.redisUrl, { logger })
        : null;
    if (remote) cleanups.push(() => remote.close());
    const publish: PublishProjectEvent | undefined = processor
      ? (projectId, event) => processor.publishProjectEvent(projectId, event)
      : remote?.publish;
    if (publish) {
      const unpublish = publishWorkflowChanges(cp.engine, db, publish, logger);
      cleanups.push(async () => unpublish());
    }
    let closed = false;
    return {
      cp,
      output: out.processor,
      outputUrl,
      secrets,
      vm,
      async close() {
        if (closed) return;
        closed = true;
        await unwind();
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
