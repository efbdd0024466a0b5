import os from "node:os";
import { caOf, checkConnect, tlsEnvSchema, type ClientTls } from "@drover/tls";
import { z } from "zod";
import { parseImageAliases, type ImageAlias } from "./executor/docker/images.js";
import { processStart } from "./executor/docker/process-start.js";
import type { RerunSshConfig } from "./ssh/rerun.js";
import { DEFAULT_SSH_WAIT } from "./ssh/wait-policy.js";

const SELF_START = processStart("self");

export const DEFAULT_IMAGE_ALIASES = "cimg/base:*=drover/ci-base";
/** `DROVER_DOCKER_NETWORK` value for a network of each job's own. */
export const PER_JOB_NETWORK = "per-job";

const bool = z
  .enum(["0", "1", "true", "false", ""])
  .optional()
  .transform((v) => v === "1" || v === "true");

/** The agent's environment, parsed once in `main` and passed into constructors. */
export const agentEnvSchema = z
  .object({
    /** Single-use task token handed over by the scheduler. */
    DROVER_TASK_TOKEN: z.string().min(1, "DROVER_TASK_TOKEN is required"),
    /** The control plane, e.g. http://127.0.0.1:8080. */
    DROVER_URL: z.url({ message: "DROVER_URL must be an http(s) URL" }),
    /** PEM CA the control plane's and output-processor's certificates are verified against. */
    DROVER_TLS_CA: tlsEnvSchema.shape.DROVER_TLS_CA,
    /** The same CA as PEM text (Nomad jobs carry it so: a client has no file of it). */
    DROVER_TLS_CA_PEM: z.string().includes("-----BEGIN ").optional(),
    /** `true`: a plaintext DROVER_URL beyond loopback is accepted (a private network). */
    DROVER_ALLOW_PLAINTEXT: z
      .string()
      .optional()
      .transform((v) => tlsEnvSchema.shape.DROVER_ALLOW_PLAINTEXT.parse(v || undefined)),
    /** `unix:///var/run/docker.sock` (default) or `tcp://host:2376` (TLS when DOCKER_TLS_VERIFY=1). */
    DOCKER_HOST: z.string().optional(),
    /** Require TLS (client certificate) for a tcp DOCKER_HOST. */
    DOCKER_TLS_VERIFY: bool,
    /** Directory holding ca.pem, cert.pem, key.pem. */
    DOCKER_CERT_PATH: z.string().optional(),
    /**
     * `pattern=image,...`; `*` in a pattern matches anything. Unset: `cimg/base:*=drover/ci-base` (so
     * CircleCI configs run offline on the local image); set it empty to disable aliasing.
     */
    DROVER_IMAGE_ALIASES: z.string().optional().default(DEFAULT_IMAGE_ALIASES),
    /** `never` (default: nothing is pulled) or `missing` (pull images not present). */
    DROVER_IMAGE_PULL: z.enum(["never", "missing"]).optional().default("never"),
    /** Image of the helper that blackholes the metadata address when nsenter cannot (needs `ip`). */
    DROVER_SANDBOX_IMAGE: z.string().optional().default("drover/sandbox:latest"),
    /** How the metadata address is blackholed: `auto` (nsenter when root beside a local engine, else a helper container), `nsenter`, `container`. */
    DROVER_NET_GUARD: z.enum(["auto", "nsenter", "container"]).optional().default("auto"),
    /**
     * `per-job` (default): a fresh bridge network per job, removed with it. Or the name of an
     * existing network every job joins (jobs on it can reach each other; no firewall rules apply).
     */
    DROVER_DOCKER_NETWORK: z.string().min(1).optional().default(PER_JOB_NETWORK),
    /**
     * Firewall rules keeping job networks from the host's services and link-local addresses:
     * `auto` (default: install when root beside a local engine, else warn), `on` (refuse to start
     * without them), `off`.
     */
    DROVER_NET_RULES: z.enum(["auto", "on", "off"]).optional().default("auto"),
    /** Maximum processes per container. */
    DROVER_PIDS_LIMIT: z.coerce.number().int().positive().optional().default(4096),
    DROVER_LOG_LEVEL: z
      .enum(["trace", "debug", "info", "warn", "error", "fatal"])
      .optional()
      .default("info"),
    /** Where output goes when the output-processor is not used: `stdout` writes NDJSON frames. */
    DROVER_OUTPUT: z.enum(["processor", "stdout"]).optional().default("processor"),
    /** Rerun with SSH: interface the agent's SSH server listens on (Nomad: all, else loopback). */
    DROVER_SSH_BIND: z.string().min(1).optional(),
    /** Host printed in the `ssh` line (default Nomad's host IP of the `ssh` port, else the bind). */
    DROVER_SSH_ADVERTISE_HOST: z.string().min(1).optional(),
    /** An exact port (default Nomad's `ssh` port, else the first free one of 64535-65535). */
    DROVER_SSH_PORT: z.coerce.number().int().min(1).max(65535).optional(),
    /** The wait after the steps: for a first connection, after the last session, at most. */
    DROVER_SSH_FIRST_CONNECT_MS: z.coerce.number().int().positive().optional(),
    DROVER_SSH_IDLE_MS: z.coerce.number().int().positive().optional(),
    DROVER_SSH_MAX_MS: z.coerce.number().int().positive().optional(),
    /** Set by Nomad for the job spec's `ssh` port. */
    NOMAD_PORT_ssh: z.coerce.number().int().min(1).max(65535).optional(),
    NOMAD_HOST_IP_ssh: z.string().min(1).optional(),
    NOMAD_IP_ssh: z.string().min(1).optional(),
  })
  .superRefine((e, ctx) => {
    if (e.DROVER_NET_RULES === "on" && e.DROVER_DOCKER_NETWORK !== PER_JOB_NETWORK) {
      ctx.addIssue({
        code: "custom",
        path: ["DROVER_NET_RULES"],
        message: `'on' needs DROVER_DOCKER_NETWORK=${PER_JOB_NETWORK}: the rules guard per-job networks only`,
      });
    }
  });

export interface DockerConnection {
  socketPath?: string;
  host?: string;
  port?: number;
  protocol?: "http" | "https";
  certPath?: string;
}

export interface AgentConfig {
  taskToken: string;
  url: string;
  docker: DockerConnection;
  executor: ExecutorConfig;
  logLevel: string;
  output: "processor" | "stdout";
  /** Rerun with SSH (used when a task asks for it). */
  ssh: RerunSshConfig;
  /** How Drover's services are verified (`DROVER_TLS_CA`); unset: Node's roots. */
  tls?: ClientTls;
}

/** What the docker executor needs; tests build it directly. */
export interface ExecutorConfig {
  aliases: ImageAlias[];
  pull: "never" | "missing";
  sandboxImage: string;
  netGuard: "auto" | "nsenter" | "container";
  /** The engine is on this host (unix socket): its pids are ours to nsenter. */
  localEngine: boolean;
  /** `per-job` (a fresh network per job) or the name of an existing network all jobs share. */
  network: string;
  /** Firewall rules for job networks (installed by the agent at start, see `JobNetRules`). */
  netRules: "auto" | "on" | "off";
  pidsLimit: number;
  /** CPUs of the host (resource classes are clamped to it). */
  hostCpus: number;
  /** Labels identify the agent so the sweeper can tell live tasks from orphans. */
  agentPid: number;
  agentHost: string;
  /** The agent process's start time (see `processStart`), to tell it from a reused pid. */
  agentStart?: string;
}

export function defaultExecutorConfig(over: Partial<ExecutorConfig> = {}): ExecutorConfig {
  return {
    aliases: [],
    pull: "never",
    sandboxImage: "drover/sandbox:latest",
    netGuard: "auto",
    localEngine: true,
    network: PER_JOB_NETWORK,
    netRules: "auto",
    pidsLimit: 4096,
    hostCpus: os.availableParallelism(),
    agentPid: process.pid,
    agentHost: os.hostname(),
    ...(SELF_START ? { agentStart: SELF_START } : {}),
    ...over,
  };
}

export function dockerConnection(
  host: string | undefined,
  tls: boolean,
  certPath?: string,
): DockerConnection {
  if (!host || host.startsWith("unix://")) {
    return { socketPath: host ? host.slice("unix://".length) : "/var/run/docker.sock" };
  }
  const u = new URL(host.replace(/^tcp:/, tls ? "https:" : "http:"));
  return {
    host: u.hostname,
    port: Number(u.port || (tls ? 2376 : 2375)),
    protocol: tls ? "https" : "http",
    ...(certPath ? { certPath } : {}),
  };
}

function sshConfig(e: z.infer<typeof agentEnvSchema>): RerunSshConfig {
  const onNomad = e.NOMAD_PORT_ssh !== undefined;
  const bindHost = e.DROVER_SSH_BIND ?? (onNomad ? "0.0.0.0" : "127.0.0.1");
  const port = e.DROVER_SSH_PORT ?? e.NOMAD_PORT_ssh ?? { from: 64535, to: 65535 };
  return {
    bindHost,
    advertiseHost:
      e.DROVER_SSH_ADVERTISE_HOST ??
      e.NOMAD_HOST_IP_ssh ??
      e.NOMAD_IP_ssh ??
      (bindHost === "0.0.0.0" ? os.hostname() : bindHost),
    port,
    limits: {
      firstConnectMs: e.DROVER_SSH_FIRST_CONNECT_MS ?? DEFAULT_SSH_WAIT.firstConnectMs,
      idleMs: e.DROVER_SSH_IDLE_MS ?? DEFAULT_SSH_WAIT.idleMs,
      maxMs: e.DROVER_SSH_MAX_MS ?? DEFAULT_SSH_WAIT.maxMs,
    },
  };
}

/** Rerun-with-SSH settings when none are configured (tests, embedded agents). */
export function defaultSshConfig(): RerunSshConfig {
  return {
    bindHost: "127.0.0.1",
    advertiseHost: "127.0.0.1",
    port: { from: 64535, to: 65535 },
    limits: DEFAULT_SSH_WAIT,
  };
}

/** Parses the environment; throws a message naming every bad variable. */
export function loadAgentConfig(env: NodeJS.ProcessEnv): AgentConfig {
  const parsed = agentEnvSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`);
    throw new Error(`invalid agent environment:\n  ${lines.join("\n  ")}`);
  }
  const e = parsed.data;
  checkConnect({
    peer: "the control plane",
    url: e.DROVER_URL,
    allowPlaintext: e.DROVER_ALLOW_PLAINTEXT,
    variable: "DROVER_URL",
  });
  const ca = e.DROVER_TLS_CA_PEM ?? caOf(e);
  return {
    ...(ca ? { tls: { ca } } : {}),
    taskToken: e.DROVER_TASK_TOKEN,
    url: e.DROVER_URL,
    docker: dockerConnection(e.DOCKER_HOST, e.DOCKER_TLS_VERIFY, e.DOCKER_CERT_PATH),
    executor: defaultExecutorConfig({
      aliases: parseImageAliases(e.DROVER_IMAGE_ALIASES),
      pull: e.DROVER_IMAGE_PULL,
      sandboxImage: e.DROVER_SANDBOX_IMAGE,
      netGuard: e.DROVER_NET_GUARD,
      localEngine: !e.DOCKER_HOST || e.DOCKER_HOST.startsWith("unix://"),
      network: e.DROVER_DOCKER_NETWORK,
      netRules: e.DROVER_NET_RULES,
      pidsLimit: e.DROVER_PIDS_LIMIT,
    }),
    logLevel: e.DROVER_LOG_LEVEL,
    output: e.DROVER_OUTPUT,
    ssh: sshConfig(e),
  };
}
