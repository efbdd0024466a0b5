/**
 * `setup_remote_docker`: a Docker engine on a machine of the job's own (leased through the
 * control plane from vm-service), reached with TLS client certificates. Later steps get
 * `DOCKER_HOST`, `DOCKER_TLS_VERIFY` and `DOCKER_CERT_PATH`, as on CircleCI.
 */
import type { Readable } from "node:stream";
import Docker from "dockerode";
import * as tar from "tar-stream";
import type { MachineLeaseInfo, TaskSpec } from "@drover/task-api";
import { AgentError, ErrorCodes, errorMessage } from "../errors.js";
import { mkdirp, type StepContext, type StepOutcome } from "./context.js";

type RemoteDockerStep = Extract<TaskSpec["steps"][number], { type: "setup_remote_docker" }>;

/** Where the client certificates go in the primary container. */
export const REMOTE_DOCKER_CERT_PATH = "/tmp/drover-docker-certs";

function certTar(lease: MachineLeaseInfo, uid: number, gid: number): Readable {
  const pack = tar.pack();
  const files: Array<[string, string, number]> = [
    ["ca.pem", lease.docker.caCert, 0o644],
    ["cert.pem", lease.docker.clientCert, 0o644],
    ["key.pem", lease.docker.clientKey, 0o600],
  ];
  for (const [name, body, mode] of files) pack.entry({ name, mode, uid, gid }, body);
  pack.finalize();
  return pack as unknown as Readable;
}

/** The engine's version, asked by the agent itself over TLS (the machine is up and trusted). */
async function engineVersion(lease: MachineLeaseInfo): Promise<string> {
  const docker = new Docker({
    host: lease.host,
    port: lease.dockerPort,
    protocol: "https",
    ca: lease.docker.caCert,
    cert: lease.docker.clientCert,
    key: lease.docker.clientKey,
    timeout: 30_000,
  });
  const v = await docker.version();
  return `Docker ${v.Version} (API ${v.ApiVersion}, ${v.Os}/${v.Arch})`;
}

/**
 * Runs the step: lease (one machine per task; a second `setup_remote_docker` gets the same one),
 * check the engine answers, join a `local` machine to the job's network, copy the client
 * certificates in and set the environment of the steps after it.
 */
export async function setupRemoteDocker(
  ctx: StepContext,
  step: RemoteDockerStep,
  lease: (() => Promise<MachineLeaseInfo>) | undefined,
): Promise<StepOutcome> {
  if (ctx.task.executor.type !== "docker") {
    return {
      status: "failed",
      exitCode: null,
      message:
        "setup_remote_docker is for jobs on the docker executor; a machine job has Docker on its machine already",
    };
  }
  if (!lease) {
    return {
      status: "failed",
      exitCode: null,
      message: "setup_remote_docker needs vm-service, which this agent cannot reach",
    };
  }
  ctx.log("Allocating a remote Docker engine\n");
  const machine = await lease();
  ctx.log(`Remote Docker engine on machine ${machine.id} (${machine.provider})\n`);
  if (step.version) {
    ctx.log(`Requested Docker version ${step.version}; this engine is the machine image's own\n`);
  }
  if (step.dockerLayerCaching) {
    ctx.log(
      "Docker layer caching is not supported by this installation: the engine starts with an empty cache\n",
    );
  }
  try {
    ctx.log(`Engine ready: ${await engineVersion(machine)}\n`);
  } catch (err) {
    throw new AgentError(
      ErrorCodes.machine,
      `the remote Docker engine at ${machine.host}:${machine.dockerPort} does not answer: ${errorMessage(err)}`,
      { cause: err },
    );
  }
  let host = machine.host;
  const alias = machine.dockerNames[0];
  // A local machine is a container on this engine: it joins the job's network, where the job
  // reaches it by name (the certificate holds the name).
  if (machine.provider === "local" && alias && ctx.executor.attachContainer) {
    await ctx.executor.attachContainer(machine.providerId, alias);
    host = alias;
  }
  await mkdirp(ctx, REMOTE_DOCKER_CERT_PATH);
  await ctx.executor.putArchive(
    REMOTE_DOCKER_CERT_PATH,
    certTar(machine, ctx.info.uid, ctx.info.gid),
  );
  ctx.env.DOCKER_HOST = `tcp://${host}:${machine.dockerPort}`;
  ctx.env.DOCKER_TLS_VERIFY = "1";
  ctx.env.DOCKER_CERT_PATH = REMOTE_DOCKER_CERT_PATH;
  ctx.log(
    `DOCKER_HOST=${ctx.env.DOCKER_HOST} DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH=${REMOTE_DOCKER_CERT_PATH}\n`,
  );
  return { status: "success", exitCode: 0 };
}
