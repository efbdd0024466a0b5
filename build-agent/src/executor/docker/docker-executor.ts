import { execFile } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { PassThrough, Writable, type Duplex, type Readable } from "node:stream";
import { connect as tcpConnect, type Socket } from "node:net";
import { promisify } from "node:util";
import type Docker from "dockerode";
import type { TaskSpec } from "@drover/task-api";
import { PER_JOB_NETWORK, type ExecutorConfig } from "../../config.js";
import { AgentError, ErrorCodes, errorMessage } from "../../errors.js";
import type { OutputStream } from "../../output/sink.js";
import {
  PROBE,
  type EnvironmentInfo,
  type ExecHandle,
  type ExecRequest,
  type ExecResult,
  type Executor,
} from "../types.js";
import { demuxOutput } from "./demux.js";
import type { SessionProcess } from "../../ssh/server.js";
import { ensureImage } from "./images.js";
import { createJobNetwork, removeNetwork, type JobNetwork } from "./job-network.js";
import { resourcesFor } from "./resources.js";
import seccompProfile from "./seccomp-profile.json" with { type: "json" };

export const LABEL_TASK = "drover.task";
export const LABEL_PID = "drover.agent.pid";
export const LABEL_HOST = "drover.agent.host";
export const LABEL_ROLE = "drover.role";
export const LABEL_START = "drover.agent.start";

/** The cloud metadata address no job may reach. */
export const METADATA_ADDRESS = "169.254.169.254";
/** Link-local IPv4 (metadata, ECS task and other cloud endpoints), unreachable inside every job. */
export const LINK_LOCAL_V4 = "169.254.0.0/16";

const SECCOMP = `seccomp=${JSON.stringify(seccompProfile)}`;
/** Job containers: no setuid gains, no raw sockets (no spoofing on the job network). */
const SECURITY_OPT = [SECCOMP, "no-new-privileges:true"];
const CAP_DROP = ["NET_RAW"];
const KEEPALIVE = [
  "/bin/sh",
  "-c",
  "trap 'exit 0' TERM INT; while :; do sleep 86400 & wait $!; done",
];
const PIDFILE_DIR = "/tmp";
const execFileAsync = promisify(execFile);

/** Stops and kills a host process and its descendants (agent beside a local engine, as root). */
function killHostTree(pid: number): void {
  const signal = (p: number, sig: NodeJS.Signals): void => {
    try {
      process.kill(p, sig);
    } catch {
      // already gone
    }
  };
  signal(pid, "SIGSTOP");
  let children: number[] = [];
  try {
    for (const task of readdirSync(`/proc/${pid}/task`)) {
      children = children.concat(
        readFileSync(`/proc/${pid}/task/${task}/children`, "utf8")
          .split(/\s+/)
          .filter(Boolean)
          .map(Number),
      );
    }
  } catch {
    // exited meanwhile
  }
  for (const c of children) killHostTree(c);
  signal(pid, "SIGKILL");
}

/**
 * An exec's output stream can end a moment before the engine marks the exec finished: polls its
 * inspection (every 20ms, up to about a second) until it is no longer running.
 */
async function inspectExited(exec: Docker.Exec): Promise<Docker.ExecInspectInfo> {
  let info = await exec.inspect();
  for (let i = 0; info.Running && i < 50; i++) {
    await new Promise((r) => setTimeout(r, 20));
    info = await exec.inspect();
  }
  return info;
}

/** nsenter works when we are root on the engine's host (local socket) and have nsenter and ip. */
function canNsenter(config: ExecutorConfig): boolean {
  return (
    config.localEngine &&
    process.getuid?.() === 0 &&
    ["/usr/bin/nsenter", "/bin/nsenter"].some((p) => existsSync(p)) &&
    ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"].some((p) => existsSync(p))
  );
}

/**
 * The docker executor: per task a bridge network of its own (see `createJobNetwork`), a primary
 * container on it that owns the job's network namespace (link-local addresses blackholed, service
 * names in /etc/hosts) and service containers joined to that namespace (so services answer on
 * localhost), all labelled with the task id and removed by `destroy`.
 */
export class DockerExecutor implements Executor {
  private readonly containers: Docker.Container[] = [];
  private network: JobNetwork | undefined;
  /** Containers joined to the job's network by `attachContainer`. */
  private readonly attached: Array<{ network: string; containerId: string }> = [];
  private primary: Docker.Container | undefined;
  private destroyed: Promise<void> | undefined;
  private readonly services: Docker.Container[] = [];
  private execSeq = 0;

  constructor(
    private readonly docker: Docker,
    private readonly task: Pick<
      TaskSpec,
      "taskId" | "executor" | "resourceClass" | "workingDirectory" | "shell"
    >,
    private readonly config: ExecutorConfig,
  ) {}

  private labels(role: string): Record<string, string> {
    return {
      [LABEL_TASK]: this.task.taskId,
      [LABEL_PID]: String(this.config.agentPid),
      [LABEL_HOST]: this.config.agentHost,
      ...(this.config.agentStart ? { [LABEL_START]: this.config.agentStart } : {}),
      [LABEL_ROLE]: role,
    };
  }

  async setup(log: (line: string) => void): Promise<EnvironmentInfo> {
    const executor = this.task.executor;
    if (executor.type !== "docker") {
      throw new AgentError(
        ErrorCodes.executorUnsupported,
        `the ${executor.type} executor is not available on this agent (docker only)`,
      );
    }
    try {
      await this.docker.ping();
    } catch (err) {
      throw new AgentError(
        ErrorCodes.dockerUnavailable,
        `the Docker engine does not answer: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    const images = await Promise.all(
      executor.images.map((img) =>
        ensureImage(this.docker, img.image, this.config.aliases, this.config.pull, img.auth),
      ),
    );
    executor.images.forEach((img, i) => {
      const used = images[i] ?? img.image;
      log(`Using image ${img.image}${used !== img.image ? ` (as ${used})` : ""}\n`);
    });

    const res = resourcesFor(this.task.resourceClass, this.config.hostCpus);
    const limits = {
      NanoCpus: res.nanoCpus,
      Memory: res.memoryBytes,
      PidsLimit: this.config.pidsLimit,
      SecurityOpt: SECURITY_OPT,
      CapDrop: CAP_DROP,
    };
    const hosts = executor.images
      .slice(1)
      .flatMap((img) => (img.name ? [`${img.name}:127.0.0.1`] : []));
    let probe: Promise<{ exitCode: number | null; output: string }>;
    try {
      // The primary owns the job's network namespace; services join it (localhost, /etc/hosts).
      const [main, ...services] = executor.images;
      if (!main) throw new Error("the docker executor has no image");
      const networkMode = await this.jobNetwork();
      const primary = await this.docker.createContainer({
        Image: images[0],
        Entrypoint: main.entrypoint ?? [],
        Cmd: main.command ?? (main.entrypoint ? undefined : KEEPALIVE),
        ...(main.user ? { User: main.user } : {}),
        Env: Object.entries(main.environment).map(([k, v]) => `${k}=${v}`),
        Labels: this.labels("primary"),
        HostConfig: { NetworkMode: networkMode, ExtraHosts: hosts, ...limits },
      });
      this.containers.push(primary);
      this.primary = primary;
      await primary.start();
      probe = this.run(primary, ["/bin/sh", "-c", PROBE, this.task.workingDirectory]);
      // Nothing but our keepalive runs before link-local addresses are blackholed.
      await this.guardMetadata(primary);
      await Promise.all(
        services.map(async (img, i) => {
          const c = await this.docker.createContainer({
            Image: images[i + 1],
            ...(img.entrypoint ? { Entrypoint: img.entrypoint } : {}),
            ...(img.command ? { Cmd: img.command } : {}),
            ...(img.user ? { User: img.user } : {}),
            Env: Object.entries(img.environment).map(([k, v]) => `${k}=${v}`),
            Labels: this.labels(`service:${img.name ?? i + 1}`),
            HostConfig: { NetworkMode: `container:${primary.id}`, ...limits },
          });
          this.containers.push(c);
          this.services[i] = c;
          await c.start();
        }),
      );
    } catch (err) {
      if (err instanceof AgentError) throw err;
      throw new AgentError(
        ErrorCodes.container,
        `could not start the job's containers: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    const result = await probe;
    const lines = result.output.trim().split("\n");
    if (result.exitCode !== 0 || lines.length < 6) {
      throw new AgentError(
        ErrorCodes.container,
        `the primary container cannot run /bin/sh or create ${this.task.workingDirectory}: ${result.output.trim()}`,
      );
    }
    const [home = "/", machine = "", sh = "sh", wd = "/", uid = "0", gid = "0"] = lines.slice(-6);
    const shell =
      this.task.shell?.split(/\s+/).filter(Boolean) ??
      (sh === "bash" ? ["/bin/bash", "-eo", "pipefail"] : ["/bin/sh", "-eo", "pipefail"]);
    const services = executor.images
      .slice(1)
      .map((img) => ({ image: img.image, ...(img.name ? { name: img.name } : {}) }));
    return {
      home,
      machine,
      shell,
      workingDirectory: wd,
      uid: Number(uid),
      gid: Number(gid),
      services,
    };
  }

  exec(req: ExecRequest): ExecHandle {
    const container = this.requirePrimary();
    const pidfile = `${PIDFILE_DIR}/.drover-exec-${process.pid}-${++this.execSeq}.pid`;
    let killed = false;
    let timedOut = false;
    let killing: Promise<void> | undefined;
    let execRef: Docker.Exec | undefined;
    const kill = (): Promise<void> => {
      killing ??= this.killTree(container, pidfile, execRef);
      return killing;
    };
    const result = (async (): Promise<ExecResult> => {
      const exec = await container.exec({
        Cmd: ["/bin/sh", "-c", '{ echo $$ > "$0"; } 2>/dev/null; exec "$@"', pidfile, ...req.argv],
        Env: Object.entries(req.env ?? {}).map(([k, v]) => `${k}=${v}`),
        ...(req.workdir ? { WorkingDir: req.workdir } : {}),
        AttachStdout: true,
        AttachStderr: true,
      });
      execRef = exec;
      const stream = await exec.start({ hijack: true, stdin: false });
      let timer: NodeJS.Timeout | undefined;
      const arm = (): void => {
        if (!req.noOutputTimeoutMs) return;
        if (timer) clearTimeout(timer);
        timer = setTimeout(() => {
          timedOut = true;
          void kill();
        }, req.noOutputTimeoutMs);
      };
      arm();
      await demuxOutput(stream as unknown as Readable, (name, text) => {
        arm();
        const wait = req.onOutput?.(name, text);
        if (!wait) return;
        // Output not read is not silence: the clock restarts once reading resumes.
        if (timer) clearTimeout(timer);
        return wait.finally(arm);
      });
      if (timer) clearTimeout(timer);
      const info = await inspectExited(exec);
      if (killing) await killing;
      return { exitCode: info.ExitCode ?? null, timedOut, killed };
    })();
    return {
      result,
      kill: () => {
        killed = true;
        return kill();
      },
    };
  }

  async connectToJob(port: number): Promise<Duplex> {
    const info = await this.requirePrimary().inspect();
    const ip = Object.values(info.NetworkSettings.Networks ?? {})
      .map((n) => n.IPAddress)
      .find(Boolean);
    if (!ip) throw new Error("the job's container has no address");
    return new Promise((resolve, reject) => {
      const socket: Socket = tcpConnect({ host: ip, port }, () => resolve(socket));
      socket.once("error", reject);
    });
  }

  async interactive(req: {
    command?: string;
    pty?: { term: string; cols: number; rows: number };
    env: Record<string, string>;
    workdir: string;
    shell: string;
  }): Promise<SessionProcess> {
    const container = this.requirePrimary();
    const pidfile = `${PIDFILE_DIR}/.drover-ssh-${process.pid}-${++this.execSeq}.pid`;
    const argv = req.command !== undefined ? [req.shell, "-c", req.command] : [req.shell, "-l"];
    const tty = Boolean(req.pty);
    const exec = await container.exec({
      Cmd: ["/bin/sh", "-c", '{ echo $$ > "$0"; } 2>/dev/null; exec "$@"', pidfile, ...argv],
      Env: Object.entries({ ...req.env, ...(req.pty ? { TERM: req.pty.term } : {}) }).map(
        ([k, v]) => `${k}=${v}`,
      ),
      WorkingDir: req.workdir,
      AttachStdin: true,
      AttachStdout: true,
      AttachStderr: true,
      Tty: tty,
    });
    const stream = (await exec.start({ hijack: true, stdin: true, Tty: tty })) as unknown as Duplex;
    const stdout = new PassThrough();
    const stderr = new PassThrough();
    if (tty) stream.pipe(stdout);
    else this.docker.modem.demuxStream(stream, stdout, stderr);
    const ended = new Promise<void>((resolve) => {
      stream.once("end", resolve);
      stream.once("close", resolve);
    });
    const result = ended.then(async () => {
      stdout.end();
      stderr.end();
      const info = await inspectExited(exec);
      return info.ExitCode ?? null;
    });
    const resize = (cols: number, rows: number) =>
      void exec.resize({ h: rows, w: cols }).catch(() => undefined);
    if (req.pty) resize(req.pty.cols, req.pty.rows);
    return {
      stdin: stream,
      stdout,
      ...(tty ? {} : { stderr }),
      result,
      resize,
      kill: () => void this.killTree(container, pidfile, exec).catch(() => undefined),
    };
  }

  serviceLogs(
    index: number,
    onOutput: (stream: OutputStream, data: string) => void,
  ): { stop(): void } {
    const container = this.services[index];
    let stream: NodeJS.ReadableStream | undefined;
    let stopped = false;
    if (container) {
      void container
        .logs({ follow: true, stdout: true, stderr: true })
        .then((s) => {
          stream = s;
          if (stopped) (s as unknown as Readable).destroy();
          else {
            void demuxOutput(s as unknown as Readable, (name, text) => {
              if (!stopped) onOutput(name, text);
            }).catch(() => undefined);
          }
        })
        .catch(() => undefined);
    }
    return {
      stop: () => {
        stopped = true;
        (stream as unknown as Readable | undefined)?.destroy();
      },
    };
  }

  async getArchive(path: string): Promise<Readable | undefined> {
    try {
      return (await this.requirePrimary().getArchive({ path })) as unknown as Readable;
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode === 404) return undefined;
      throw err;
    }
  }

  async putArchive(dir: string, tar: Readable): Promise<void> {
    await this.requirePrimary().putArchive(tar, { path: dir });
  }

  async attachContainer(containerId: string, alias: string): Promise<void> {
    const name = this.network?.name ?? this.config.network;
    try {
      await this.docker
        .getNetwork(name)
        .connect({ Container: containerId, EndpointConfig: { Aliases: [alias] } });
    } catch (err) {
      throw new AgentError(
        ErrorCodes.jobNetwork,
        `could not join the remote Docker engine to the job's network: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    this.attached.push({ network: name, containerId });
  }

  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      // Attached machines are not ours to remove: detach them so the network can go.
      await Promise.all(
        this.attached.map((a) =>
          this.docker
            .getNetwork(a.network)
            .disconnect({ Container: a.containerId, Force: true })
            .catch(() => undefined),
        ),
      );
      const all = [...this.containers].reverse();
      await Promise.all(
        all.map((c) =>
          c.remove({ force: true, v: true }).catch((err: { statusCode?: number }) => {
            if (err.statusCode !== 404) throw err;
          }),
        ),
      );
      if (this.network) await removeNetwork(this.docker, this.network.id);
    })();
    return this.destroyed;
  }

  /** The primary's network: a new one for this job (`per-job`), else the configured one. */
  private async jobNetwork(): Promise<string> {
    if (this.config.network !== PER_JOB_NETWORK) return this.config.network;
    try {
      this.network = await createJobNetwork(this.docker, this.task.taskId, this.labels("network"));
    } catch (err) {
      throw new AgentError(
        ErrorCodes.jobNetwork,
        `could not create the job's network: ${errorMessage(err)}`,
        { cause: err },
      );
    }
    return this.network.name;
  }

  /**
   * Makes 169.254.0.0/16 unreachable in the primary's network namespace (so also where no host
   * firewall rules are installed): with `nsenter` from the host when the agent is root beside a
   * local engine, else with a short-lived helper container (NET_ADMIN, in that namespace only)
   * running `ip route add unreachable`.
   */
  private async guardMetadata(primary: Docker.Container): Promise<void> {
    const route = ["ip", "route", "add", "unreachable", LINK_LOCAL_V4];
    const mode = this.config.netGuard;
    if (mode === "nsenter" || (mode === "auto" && canNsenter(this.config))) {
      try {
        const pid = (await primary.inspect()).State.Pid;
        await execFileAsync("nsenter", [`--net=/proc/${pid}/ns/net`, ...route]);
        return;
      } catch (err) {
        if (mode === "nsenter") {
          throw new AgentError(
            ErrorCodes.sandbox,
            `could not blackhole ${LINK_LOCAL_V4}: ${errorMessage(err)}`,
            { cause: err },
          );
        }
      }
    }
    const image = await ensureImage(this.docker, this.config.sandboxImage, [], "never");
    const helper = await this.docker.createContainer({
      Image: image,
      Cmd: route,
      Labels: this.labels("netguard"),
      HostConfig: {
        NetworkMode: `container:${primary.id}`,
        CapDrop: ["ALL"],
        CapAdd: ["NET_ADMIN"],
        SecurityOpt: ["no-new-privileges:true"],
        PidsLimit: 8,
        Memory: 32 * 1024 * 1024,
      },
    });
    this.containers.push(helper);
    await helper.start();
    const done = (await helper.wait()) as { StatusCode?: number };
    if (done.StatusCode !== 0) {
      const logs = String(await helper.logs({ stdout: true, stderr: true }));
      throw new AgentError(
        ErrorCodes.sandbox,
        `could not blackhole ${LINK_LOCAL_V4}: ${logs.trim()}`,
      );
    }
    await helper.remove({ force: true }).catch(() => undefined);
  }

  private requirePrimary(): Docker.Container {
    if (!this.primary)
      throw new AgentError(ErrorCodes.container, "the job environment is not set up");
    return this.primary;
  }

  /** Runs a helper command to completion and returns its combined output. */
  private async run(
    container: Docker.Container,
    cmd: string[],
  ): Promise<{ exitCode: number | null; output: string }> {
    const exec = await container.exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
    const stream = await exec.start({ hijack: true, stdin: false });
    let output = "";
    const collect = new Writable({
      write(chunk: Buffer, _e, cb) {
        output += chunk.toString("utf8");
        cb();
      },
    });
    await new Promise<void>((resolve, reject) => {
      this.docker.modem.demuxStream(stream, collect, collect);
      stream.on("end", resolve);
      stream.on("close", resolve);
      stream.on("error", reject);
    });
    const info = await inspectExited(exec);
    return { exitCode: info.ExitCode ?? null, output };
  }

  /**
   * Stops the process in `pidfile` and all its descendants (walking /proc inside the container),
   * then kills them. When that cannot run (pids limit exhausted, no /tmp) and the engine is local,
   * the same walk runs from the host on the exec's host pid.
   */
  private async killTree(
    container: Docker.Container,
    pidfile: string,
    exec?: Docker.Exec,
  ): Promise<void> {
    const script = [
      'p=$(cat "$0" 2>/dev/null) || exit 3',
      'walk() { kill -STOP "$1" 2>/dev/null; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do walk "$c"; done; kill -KILL "$1" 2>/dev/null; }',
      'walk "$p"',
      'rm -f "$0"',
    ].join("; ");
    let done = false;
    try {
      done = (await this.run(container, ["/bin/sh", "-c", script, pidfile])).exitCode === 0;
    } catch {
      // Falls through to the host-side kill.
    }
    if (done || !exec || !this.config.localEngine) return;
    try {
      const pid = (await exec.inspect()).Pid;
      if (pid > 0) killHostTree(pid);
    } catch {
      // The exec or container is gone: nothing left to kill.
    }
  }
}
