import Docker from "dockerode";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import {
  TaskApiClient,
  TaskApiError,
  type MachineLeaseInfo,
  type TaskEvent,
  type TaskSpec,
} from "@drover/task-api";
import { createMasker } from "@drover/output-processor/masking";
import { OutputClient } from "@drover/output-processor/client";
import { PER_JOB_NETWORK, type AgentConfig, type DockerConnection } from "./config.js";
import { AgentError, ErrorCodes, errorMessage } from "./errors.js";
import { DockerExecutor } from "./executor/docker/docker-executor.js";
import { MachineExecutor, type MachineTarget } from "./executor/machine/machine-executor.js";
import type { Executor } from "./executor/types.js";
import { JobNetRules, netRulesUnavailable } from "./executor/docker/net-rules.js";
import { sweepOrphans } from "./executor/docker/sweeper.js";
import { MaskingSink } from "./output/masking.js";
import { CLOSE_TIMEOUT_MS, ProcessorSink } from "./output/processor-sink.js";
import { NdjsonSink, type OutputSink } from "./output/sink.js";
import { Runner, type TaskOutcome } from "./runner/runner.js";
import { withTimeout } from "./util/time.js";

/** A dockerode client for the unix socket or a tcp DOCKER_HOST (TLS with client certificates). */
export function dockerClient(c: DockerConnection): Docker {
  if (c.socketPath) return new Docker({ socketPath: c.socketPath });
  const certs = c.certPath
    ? {
        ca: readFileSync(path.join(c.certPath, "ca.pem")),
        cert: readFileSync(path.join(c.certPath, "cert.pem")),
        key: readFileSync(path.join(c.certPath, "key.pem")),
      }
    : {};
  return new Docker({ host: c.host, port: c.port, protocol: c.protocol, ...certs });
}

export interface AgentRunOptions {
  config: AgentConfig;
  logger: Logger;
  signal: AbortSignal;
  docker?: Docker;
  /** Overrides the sink built from the task (tests). Masking is applied on top. */
  sink?: OutputSink;
}

/**
 * Installs the job networks' firewall rules (idempotent). `DROVER_NET_RULES=on`: throws when they
 * cannot be installed; `auto`: logs a warning naming the reason and goes on without them.
 */
export async function prepareNetRules(
  config: AgentConfig,
  docker: Docker,
  logger: Logger,
  rules: JobNetRules = new JobNetRules(),
): Promise<boolean> {
  const { netRules, network, localEngine } = config.executor;
  if (netRules === "off" || network !== PER_JOB_NETWORK) return false;
  let reason = await netRulesUnavailable(docker, localEngine);
  if (!reason) {
    try {
      await rules.install();
      return true;
    } catch (err) {
      reason = errorMessage(err);
    }
  }
  if (netRules === "on") {
    throw new AgentError(
      ErrorCodes.netRules,
      `DROVER_NET_RULES=on, but the job network firewall rules cannot be installed: ${reason}`,
    );
  }
  logger.warn(
    { reason },
    "jobs are not firewalled from this host's services and link-local addresses " +
      "(DROVER_NET_RULES=auto could not install the rules; see the build-agent README)",
  );
  return false;
}

/** How the agent reaches a leased machine over SSH. */
function machineTarget(api: TaskApiClient, lease: MachineLeaseInfo): MachineTarget {
  return {
    access: {
      host: lease.host,
      sshPort: lease.sshPort,
      dockerPort: lease.dockerPort,
      sshUser: lease.sshUser,
      privateKey: lease.sshPrivateKey,
      hostPublicKey: lease.hostPublicKey,
    },
    // Once the task is final the control plane has released it already (the session is gone).
    release: () =>
      api.releaseMachine().catch((err: unknown) => {
        if (err instanceof TaskApiError && err.code === "DROVER_ERR_TASK_SESSION") return;
        throw err;
      }),
  };
}

/** Leases the task's machine; a refusal says why in the words of the control plane. */
async function leaseMachine(
  api: TaskApiClient,
  purpose: "executor" | "remote_docker",
): Promise<MachineLeaseInfo> {
  try {
    return await api.leaseMachine(purpose);
  } catch (err) {
    let reason = errorMessage(err);
    if (err instanceof TaskApiError && err.body) {
      try {
        const body = JSON.parse(err.body) as { message?: unknown; code?: unknown };
        if (typeof body.message === "string") {
          reason = `${body.message}${typeof body.code === "string" ? ` (${body.code})` : ""}`;
        }
      } catch {
        // not JSON: keep the client's message
      }
    }
    throw new AgentError(ErrorCodes.machine, `no machine for this job: ${reason}`, {
      cause: err,
    });
  }
}

/** The executor of the task's kind: containers on the agent's engine, or a leased machine. */
function executorFor(
  task: TaskSpec,
  api: TaskApiClient,
  docker: Docker,
  config: AgentConfig,
): Executor {
  if (task.executor.type === "machine") {
    return new MachineExecutor({
      lease: async () => machineTarget(api, await leaseMachine(api, "executor")),
      workingDirectory: task.workingDirectory,
    });
  }
  return new DockerExecutor(docker, task, config.executor);
}

/**
 * One agent run: install the job networks' firewall rules, claim the task, sweep orphans of dead agents, run the steps, report the result,
 * destroy the containers. A failure of the agent itself after the claim is reported as
 * `infrastructure_fail` with the reason.
 */
export async function runAgent(opts: AgentRunOptions): Promise<TaskOutcome> {
  const { config, logger, signal } = opts;
  const api = new TaskApiClient({ url: config.url, ...(config.tls ? { tls: config.tls } : {}) });
  const docker = opts.docker ?? dockerClient(config.docker);
  await prepareNetRules(config, docker, logger);
  const claim = await api.claim(config.taskToken);
  const task = claim.task;
  const log = logger.child({ taskId: task.taskId, jobId: task.job.id });
  log.info({ job: task.job.name, node: task.node.index }, "task claimed");
  // A machine job's agent may have no Docker engine (Nomad gives it no socket).
  const onDocker = task.executor.type === "docker";
  if (onDocker) {
    try {
      const swept = await sweepOrphans(docker, { host: config.executor.agentHost });
      if (swept.length) log.info({ swept }, "removed containers of dead agents");
    } catch (err) {
      log.warn({ err }, "sweeping orphaned containers failed");
    }
  }

  let inner: OutputSink;
  if (opts.sink) inner = opts.sink;
  else if (config.output === "stdout" || !/^(https?|wss?):\/\//.test(task.output.url)) {
    if (config.output !== "stdout") {
      log.warn(
        { url: task.output.url },
        "no usable output-processor URL; writing output to stdout",
      );
    }
    inner = new NdjsonSink(process.stdout);
  } else {
    const client = new OutputClient({
      url: task.output.url,
      token: task.output.token,
      taskId: task.taskId,
      logger: log,
      ...(config.tls ? { tls: config.tls } : {}),
    });
    const connected = client.connect();
    connected.catch((err: unknown) =>
      log.error({ err }, "output-processor refused the task's output"),
    );
    inner = new ProcessorSink(client, connected);
  }
  const masker = createMasker(task.secrets);
  const sink = new MaskingSink(inner, masker);
  const executor = executorFor(task, api, docker, config);
  const runner = new Runner({
    task,
    executor,
    storage: api,
    sendEvents: (events: TaskEvent[]) => api.sendEvents(events),
    sink,
    logger,
    signal,
    mask: (text) => masker.maskAll(text),
    leaseRemoteDocker: () => leaseMachine(api, "remote_docker"),
    ssh: config.ssh,
    onSshEvent: (e) => {
      log.info({ ...e }, `SSH ${e.event}`);
      api
        .sendEvents([{ type: "ssh_session", ...e, at: new Date().toISOString() }])
        .catch((err: unknown) => log.warn({ err }, "could not report an SSH session"));
    },
  });
  let outcome: TaskOutcome;
  try {
    outcome = await runner.run();
  } catch (err) {
    const message = `agent error: ${errorMessage(err)}`;
    log.error({ err }, "task run crashed");
    outcome = { result: "infrastructure_fail", message };
    await api
      .sendEvents([
        { type: "task_finished", result: outcome.result, message, at: new Date().toISOString() },
      ])
      .catch((e: unknown) => log.error({ err: e }, "could not report the failure"));
  } finally {
    await executor
      .destroy()
      .catch((err: unknown) => log.error({ err }, "removing the job's environment failed"));
    // Also clean up after agents that died meanwhile (best effort; the next agent retries).
    if (onDocker) {
      await sweepOrphans(docker, { host: config.executor.agentHost }).catch(() => undefined);
    }
    await withTimeout(sink.close(), CLOSE_TIMEOUT_MS + 5_000).catch((err: unknown) =>
      log.warn({ err }, "closing output failed"),
    );
    await api.close();
  }
  return outcome;
}
