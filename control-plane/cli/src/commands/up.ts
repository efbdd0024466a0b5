/** `drover up`: every service in one process on embedded defaults. */
import { readFileSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { isIP } from "node:net";
import { hostname } from "node:os";
import { resolve } from "node:path";
import process from "node:process";
import pino from "pino";
import type * as ServerModule from "@drover/control-plane";
import type { Drover } from "@drover/control-plane";
import { DroverClient } from "../client.js";
import { saveCliSettings, type CliSettings } from "../settings.js";
import { runPipeline } from "./run.js";
import { integerOption, parseCommand } from "../args.js";

const USAGE =
  "usage: drover up [--port N] [--output-port N] [--host H] [--data-dir DIR] [--tls] [--run DIR]\n\n" +
  "Runs the control plane, the output-processor (live output, port 8585), the scheduler and\n" +
  "agents in one process. State lives in DIR (default .drover; DATABASE_URL switches to\n" +
  "PostgreSQL, REDIS_URL to Redis pub/sub, VAULT_ADDR to Vault, NOMAD_ADDR to Nomad). Prints\n" +
  "the URL and, on the first start, the admin token, also saved to DIR/cli.json for the CLI.\n\n" +
  "--tls: serve everything over TLS with a local CA and server certificate made on the first\n" +
  "start in DIR/tls (DROVER_TLS_CERT, DROVER_TLS_KEY and DROVER_TLS_CA win when set); agents and\n" +
  "the CLI here trust the CA; its path is printed for browsers and other clients.\n\n" +
  "--run DIR: also run DIR's pipeline like `drover run DIR`, stream its output, then stop and\n" +
  "exit with its result (server logs then go to DIR/server.log).\n";

/** A token for `--run` when the bootstrap one was shown on an earlier start: cli.json's, else a new one. */
async function runToken(server: Server, drover: Drover, cliFile: string): Promise<string> {
  const { API_TOKEN_PREFIX, generateToken, getUserByLogin, hashToken, insertApiToken } = server;
  if (drover.cp.bootstrapToken) return drover.cp.bootstrapToken;
  try {
    const stored = JSON.parse(readFileSync(cliFile, "utf8")) as Partial<CliSettings>;
    if (stored.token) {
      const client = new DroverClient(drover.cp.url, stored.token, stored);
      if (
        await client.me().then(
          () => true,
          () => false,
        )
      )
        return stored.token;
    }
  } catch {
    // none stored
  }
  const admin = await getUserByLogin(drover.cp.db, "admin");
  if (!admin) throw new Error("no admin user to run the pipeline as");
  const token = generateToken(API_TOKEN_PREFIX);
  await insertApiToken(drover.cp.db, admin.id, hashToken(token), "drover up --run");
  await saveCliSettings(cliFile, { token });
  return token;
}

type Server = typeof ServerModule;

export async function run(argv: string[]): Promise<number> {
  const { values, fail } = parseCommand(argv, {
    name: "drover up",
    usage: USAGE,
    options: {
      port: { type: "string" },
      "output-port": { type: "string" },
      host: { type: "string" },
      "data-dir": { type: "string" },
      run: { type: "string" },
      tls: { type: "boolean" },
    },
  });
  integerOption(values.port, "port", fail, 65535);
  integerOption(values["output-port"], "output-port", fail, 65535);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ...(values.port ? { DROVER_PORT: values.port } : {}),
    ...(values["output-port"] ? { DROVER_OUTPUT_PORT: values["output-port"] } : {}),
    ...(values.host ? { DROVER_HOST: values.host } : {}),
    ...(values["data-dir"] ? { DROVER_DATA_DIR: values["data-dir"] } : {}),
  };
  if (values.tls) await localTls(env);
  // The server (fastify, PGlite, ...) loads only now that it is asked to serve.
  const server: Server = await import("@drover/control-plane");
  const { ConfigError, dataPaths, loadConfig, ROOT_LOG_REDACT_PATHS, startDrover } = server;
  // Every variable parsed once; a bad one is an error naming it.
  let loaded: ReturnType<typeof loadConfig>;
  try {
    loaded = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    process.stderr.write(`drover up: ${err.message}\n`);
    return 1;
  }
  const config = loaded.server;
  const paths = dataPaths(config);
  await mkdir(paths.root, { recursive: true });
  const runDir = values.run;
  // With --run the terminal is the pipeline's: server logs go to a file.
  const destination = runDir
    ? pino.destination({ dest: paths.serverLog, append: true, sync: false, mkdir: true })
    : pino.destination(2);
  const logger = pino(
    {
      level: loaded.logLevel,
      redact: {
        paths: [...ROOT_LOG_REDACT_PATHS],
        censor: "[redacted]",
      },
    },
    destination,
  );
  let drover: Drover;
  try {
    drover = await startDrover({
      config,
      secretStore: loaded.secretStore,
      nomad: loaded.nomad,
      vm: loaded.vm,
      logger,
      env,
    });
  } catch (err) {
    process.stderr.write(
      `drover up: cannot start: ${err instanceof Error ? err.message : String(err)}\n`,
    );
    if (runDir) process.stderr.write(`(details in ${paths.serverLog})\n`);
    logger.error({ err }, "start failed");
    logger.flush();
    return 1;
  }
  const { cp } = drover;
  // Saved before anything is printed, so whoever reads the banner finds the file.
  await saveCliSettings(paths.cli, {
    url: cp.url,
    outputUrl: drover.outputUrl,
    ...(cp.bootstrapToken ? { token: cp.bootstrapToken } : {}),
    ...(drover.vm ? { vmUrl: drover.vm.url, vmToken: drover.vm.serviceToken } : {}),
    ...(config.tlsCa ? { tlsCa: resolve(config.tlsCa) } : {}),
  });
  process.stdout.write(`Drover is up at ${cp.url} (live output at ${drover.outputUrl})\n`);
  if (config.tlsCa && config.tlsCert) {
    process.stdout.write(
      `TLS: certificates are signed by the CA in ${resolve(config.tlsCa)}\n` +
        "  Trust it in browsers, or give it to other clients as DROVER_TLS_CA.\n",
    );
  }
  if (cp.bootstrapToken) {
    process.stdout.write(
      `Admin token (shown once, saved to ${paths.cli}):\n  ${cp.bootstrapToken}\n` +
        `Use it as DROVER_TOKEN, or run drover commands from this directory.\n`,
    );
  }

  let code = 0;
  if (runDir) {
    const stop = new AbortController();
    const onSignal = () => stop.abort();
    process.once("SIGINT", onSignal);
    process.once("SIGTERM", onSignal);
    try {
      const token = await runToken(server, drover, paths.cli);
      code = await Promise.race([
        runPipeline({
          dir: runDir,
          settings: {
            url: cp.url,
            token,
            outputUrl: drover.outputUrl,
            ...(config.tlsCa ? { tlsCa: config.tlsCa } : {}),
          },
          cacheRoot: paths.snapshots,
        }),
        new Promise<number>((resolve) =>
          stop.signal.addEventListener("abort", () => resolve(130), { once: true }),
        ),
      ]);
    } catch (err) {
      process.stderr.write(
        `drover up --run: ${err instanceof Error ? err.message : String(err)}\n`,
      );
      code = 1;
    } finally {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
    }
    process.stdout.write(
      `${code === 0 ? "pipeline succeeded" : "pipeline did not succeed"}; stopping (server log: ${paths.serverLog})\n`,
    );
  } else {
    await new Promise<void>((resolve) => {
      const stop = () => resolve();
      process.once("SIGINT", stop);
      process.once("SIGTERM", stop);
    });
    process.stdout.write(
      "stopping (running jobs keep running and are picked up on the next start)\n",
    );
  }
  await drover.close();
  logger.flush();
  return code;
}

/**
 * `--tls`: the local CA and server certificate in `<data dir>/tls` (made on first start, renewed
 * when near expiry), named in `env` unless the operator named their own.
 */
async function localTls(env: NodeJS.ProcessEnv): Promise<void> {
  const { ensureLocalTls, isLoopbackHost } = await import("@drover/tls");
  const host = env.DROVER_HOST;
  const names: { dns: string[]; ips: string[] } = { dns: [], ips: [] };
  if (host && !isLoopbackHost(host)) {
    if (host === "0.0.0.0" || host === "::") names.dns.push(hostname());
    else if (isIP(host)) names.ips.push(host);
    else names.dns.push(host);
  }
  const local = await ensureLocalTls(resolve(env.DROVER_DATA_DIR || ".drover", "tls"), names);
  if (!env.DROVER_TLS_CERT && !env.DROVER_TLS_KEY) {
    env.DROVER_TLS_CERT = local.certFile;
    env.DROVER_TLS_KEY = local.keyFile;
  }
  env.DROVER_TLS_CA ||= local.caFile;
}
