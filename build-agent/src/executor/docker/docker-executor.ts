import { Writable, type Readable } from "node:stream";
import type Docker from "dockerode";
import type { TaskSpec } from "@drover/control-plane/task-api";
import type { ExecutorConfig } from "../../config.js";
import { AgentError, ErrorCodes, errorMessage } from "../../errors.js";
import type { OutputStream } from "../../output/sink.js";
import type { EnvironmentInfo, ExecHandle, ExecRequest, ExecResult, Executor } from "../types.js";
import { ensureImage } from "./images.js";
import { resourcesFor } from "./resources.js";
import seccompProfile from "./seccomp-profile.json" with { type: "json" };

export const LABEL_TASK = "drover.task";
export const LABEL_PID = "drover.agent.pid";
export const LABEL_HOST = "drover.agent.host";
export const LABEL_ROLE = "drover.role";

/** The cloud metadata address no job may reach. */
export const METADATA_ADDRESS = "169.254.169.254";

const SECCOMP = `seccomp=${JSON.stringify(seccompProfile)}`;
const KEEPALIVE = [
  "/bin/sh",
  "-c",
  "trap 'exit 0' TERM INT; while :; do sleep 86400 & wait $!; done",
];
const PROBE = [
  'wd="$0"',
  'case "$wd" in "~") wd="$HOME";; "~/"*) wd="$HOME/${wd#\\~/}";; esac',
  'mkdir -p "$wd"',
  'echo "$HOME"',
  "uname -m",
  "if [ -x /bin/bash ]; then echo bash; else echo sh; fi",
  'echo "$wd"',
  "id -u",
  "id -g",
].join("; ");
const PIDFILE_DIR = "/tmp";

/**
 * The docker executor: per task a sandbox container that owns the network namespace (metadata
 * address blackholed, service names in /etc/hosts), the primary container and the service
 * containers joined to it (so services answer on localhost), all labelled with the task id.
 */
export class DockerExecutor implements Executor {
  private readonly containers: Docker.Container[] = [];
  private sandbox: Docker.Container | undefined;
  private primary: Docker.Container | undefined;
  private destroyed: Promise<void> | undefined;
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
    const images = await Promise.all([
      ensureImage(this.docker, this.config.sandboxImage, [], "never"),
      ...executor.images.map((img) =>
        ensureImage(this.docker, img.image, this.config.aliases, this.config.pull, img.auth),
      ),
    ]);
    executor.images.forEach((img, i) => {
      const used = images[i + 1] ?? img.image;
      log(`Using image ${img.image}${used !== img.image ? ` (as ${used})` : ""}\n`);
    });

    const res = resourcesFor(this.task.resourceClass, this.config.hostCpus);
    const limits = {
      NanoCpus: res.nanoCpus,
      Memory: res.memoryBytes,
      PidsLimit: this.config.pidsLimit,
      SecurityOpt: [SECCOMP],
    };
    const hosts = executor.images
      .slice(1)
      .flatMap((img) => (img.name ? [`${img.name}:127.0.0.1`] : []));
    try {
      this.sandbox = await this.docker.createContainer({
        Image: images[0],
        Cmd: ["sleep", "infinity"],
        Labels: this.labels("sandbox"),
        HostConfig: {
          NetworkMode: this.config.network,
          ExtraHosts: hosts,
          CapDrop: ["ALL"],
          CapAdd: ["NET_ADMIN"],
          PidsLimit: 16,
          Memory: 32 * 1024 * 1024,
        },
      });
      this.containers.push(this.sandbox);
      await this.sandbox.start();
      const created = await Promise.all(
        executor.images.map((img, i) =>
          this.docker.createContainer({
            Image: images[i + 1],
            ...(i === 0
              ? {
                  Entrypoint: img.entrypoint ?? [],
                  Cmd: img.command ?? (img.entrypoint ? undefined : KEEPALIVE),
                }
              : {
                  ...(img.entrypoint ? { Entrypoint: img.entrypoint } : {}),
                  ...(img.command ? { Cmd: img.command } : {}),
                }),
            ...(img.user ? { User: img.user } : {}),
            Env: Object.entries(img.environment).map(([k, v]) => `${k}=${v}`),
            Labels: this.labels(i === 0 ? "primary" : `service:${img.name ?? i}`),
            HostConfig: { NetworkMode: `container:${this.sandbox?.id ?? ""}`, ...limits },
          }),
        ),
      );
      this.containers.push(...created);
      this.primary = created[0];
      const blackhole = this.run(this.sandbox, [
        "ip",
        "route",
        "add",
        "unreachable",
        `${METADATA_ADDRESS}/32`,
      ]);
      await Promise.all([...created.slice(1).map((c) => c.start())]);
      await this.primary?.start();
      const routed = await blackhole;
      if (routed.exitCode !== 0) {
        throw new AgentError(
          ErrorCodes.sandbox,
          `could not blackhole ${METADATA_ADDRESS} in the job's network: ${routed.output.trim()}`,
        );
      }
    } catch (err) {
      if (err instanceof AgentError) throw err;
      throw new AgentError(
        ErrorCodes.container,
        `could not start the job's containers: ${errorMessage(err)}`,
        {
          cause: err,
        },
      );
    }
    const probe = await this.run(this.requirePrimary(), [
      "/bin/sh",
      "-c",
      PROBE,
      this.task.workingDirectory,
    ]);
    const lines = probe.output.trim().split("\n");
    if (probe.exitCode !== 0 || lines.length < 6) {
      throw new AgentError(
        ErrorCodes.container,
        `the primary container cannot run /bin/sh or create ${this.task.workingDirectory}: ${probe.output.trim()}`,
      );
    }
    const [home = "/", machine = "", sh = "sh", wd = "/", uid = "0", gid = "0"] = lines.slice(-6);
    const shell =
      this.task.shell?.split(/\s+/).filter(Boolean) ??
      (sh === "bash" ? ["/bin/bash", "-eo", "pipefail"] : ["/bin/sh", "-eo", "pipefail"]);
    return { home, machine, shell, workingDirectory: wd, uid: Number(uid), gid: Number(gid) };
  }

  exec(req: ExecRequest): ExecHandle {
    const container = this.requirePrimary();
    const pidfile = `${PIDFILE_DIR}/.drover-exec-${process.pid}-${++this.execSeq}.pid`;
    let killed = false;
    let timedOut = false;
    let killing: Promise<void> | undefined;
    const kill = (): Promise<void> => {
      killing ??= this.killTree(container, pidfile);
      return killing;
    };
    const result = (async (): Promise<ExecResult> => {
      const exec = await container.exec({
        Cmd: ["/bin/sh", "-c", 'echo $$ > "$0"; exec "$@"', pidfile, ...req.argv],
        Env: Object.entries(req.env ?? {}).map(([k, v]) => `${k}=${v}`),
        ...(req.workdir ? { WorkingDir: req.workdir } : {}),
        AttachStdout: true,
        AttachStderr: true,
      });
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
      const sinkFor = (name: OutputStream): Writable => {
        const decoder = new TextDecoder();
        return new Writable({
          write(chunk: Buffer, _enc, cb) {
            arm();
            const text = decoder.decode(chunk, { stream: true });
            if (text) req.onOutput?.(name, text);
            cb();
          },
        });
      };
      await new Promise<void>((resolve, reject) => {
        this.docker.modem.demuxStream(stream, sinkFor("stdout"), sinkFor("stderr"));
        stream.on("end", resolve);
        stream.on("close", resolve);
        stream.on("error", reject);
      });
      if (timer) clearTimeout(timer);
      let info = await exec.inspect();
      for (let i = 0; info.Running && i < 50; i++) {
        await new Promise((r) => setTimeout(r, 20));
        info = await exec.inspect();
      }
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

  destroy(): Promise<void> {
    this.destroyed ??= (async () => {
      const all = [...this.containers].reverse();
      await Promise.all(
        all.map((c) =>
          c.remove({ force: true, v: true }).catch((err: { statusCode?: number }) => {
            if (err.statusCode !== 404) throw err;
          }),
        ),
      );
    })();
    return this.destroyed;
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
    let info = await exec.inspect();
    for (let i = 0; info.Running && i < 50; i++) {
      await new Promise((r) => setTimeout(r, 20));
      info = await exec.inspect();
    }
    return { exitCode: info.ExitCode ?? null, output };
  }

  /** Stops the process in `pidfile` and all its descendants (walking /proc), then kills them. */
  private async killTree(container: Docker.Container, pidfile: string): Promise<void> {
    const script = [
      'p=$(cat "$0" 2>/dev/null) || exit 0',
      'walk() { kill -STOP "$1" 2>/dev/null; for c in $(cat /proc/"$1"/task/*/children 2>/dev/null); do walk "$c"; done; kill -KILL "$1" 2>/dev/null; }',
      'walk "$p"',
      'rm -f "$0"',
    ].join("; ");
    try {
      await this.run(container, ["/bin/sh", "-c", script, pidfile]);
    } catch {
      // The container may be gone already (task destroyed): nothing left to kill.
    }
  }
}
