/**
 * The `local` provider: a machine is a near-privileged container from `drover/machine` (a real sshd on
 * 22, a real dockerd on 2376 with TLS client verification) on a Docker network of its own kind,
 * with its own address. Callers reach it only over SSH and Docker TLS, as they would reach a VM.
 */
import Docker from "dockerode";
import type { Logger } from "pino";
import tar from "tar-stream";
import { z } from "zod";
import { ProviderError } from "../../errors.js";
import type {
  MachineInfo,
  MachineProvider,
  MachineSpec,
  MachineState,
  ProviderHealth,
} from "../../provider/types.js";

export const localProviderConfigSchema = z.object({
  /** The machine image (built by `npm run images`). */
  image: z.string().min(1).default("drover/machine:latest"),
  /** The user-defined bridge network machines join (created when missing). */
  network: z.string().min(1).default("drover-machines"),
  /** Docker engine socket of this host. */
  socketPath: z.string().min(1).default("/var/run/docker.sock"),
  /** Memory per resource class, MiB; unknown classes get `default`. */
  memoryMiB: z.record(z.string(), z.number().int().positive()).default({ default: 4096 }),
});
export type LocalProviderConfig = z.infer<typeof localProviderConfigSchema>;

/** Docker labels: one marks vm-service's machines, the rest carry the machine's tags. */
const MANAGED_LABEL = "io.drover.vm-service";
const TAG_PREFIX = "io.drover.vm.tag.";

const tagLabels = (tags: Record<string, string>): Record<string, string> =>
  Object.fromEntries(Object.entries(tags).map(([k, v]) => [`${TAG_PREFIX}${k}`, v]));

const labelTags = (labels: Record<string, string> | undefined): Record<string, string> =>
  Object.fromEntries(
    Object.entries(labels ?? {})
      .filter(([k]) => k.startsWith(TAG_PREFIX))
      .map(([k, v]) => [k.slice(TAG_PREFIX.length), v]),
  );

function stateOf(status: string | undefined): MachineState {
  switch (status) {
    case "created":
    case "restarting":
      return "creating";
    case "running":
    case "paused":
      return "running";
    case "removing":
      return "deleting";
    default:
      return "failed";
  }
}

/**
 * What a VM's kernel would let its root do, short of `Privileged`: every capability but
 * CAP_SYS_RESOURCE (absent from some hosts' bounding sets, where `--privileged` then fails to
 * start at all), no seccomp or AppArmor profile, writable /proc and /sys paths, and every device.
 * The machine's boot script remounts the cgroup hierarchies read-write for its own engine.
 */
const MACHINE_CAPS = [
  "AUDIT_CONTROL",
  "AUDIT_READ",
  "AUDIT_WRITE",
  "BLOCK_SUSPEND",
  "CHOWN",
  "DAC_OVERRIDE",
  "DAC_READ_SEARCH",
  "FOWNER",
  "FSETID",
  "IPC_LOCK",
  "IPC_OWNER",
  "KILL",
  "LEASE",
  "LINUX_IMMUTABLE",
  "MAC_ADMIN",
  "MAC_OVERRIDE",
  "MKNOD",
  "NET_ADMIN",
  "NET_BIND_SERVICE",
  "NET_BROADCAST",
  "NET_RAW",
  "SETFCAP",
  "SETGID",
  "SETPCAP",
  "SETUID",
  "SYS_ADMIN",
  "SYS_BOOT",
  "SYS_CHROOT",
  "SYS_MODULE",
  "SYS_NICE",
  "SYS_PACCT",
  "SYS_PTRACE",
  "SYS_RAWIO",
  "SYS_TIME",
  "SYS_TTY_CONFIG",
  "SYSLOG",
  "WAKE_ALARM",
];
const MACHINE_SECURITY = ["seccomp=unconfined", "apparmor=unconfined"];

const isNotFound = (err: unknown): boolean => (err as { statusCode?: number }).statusCode === 404;

/** The files a VM's user data would install, as a tar archive rooted at `/`. */
async function bootArchive(spec: MachineSpec): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => chunks.push(c as Buffer));
  const done = new Promise<void>((resolve, reject) => {
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  const { boot } = spec;
  pack.entry({ name: "etc/drover/", type: "directory", mode: 0o755 });
  pack.entry({ name: "etc/drover/authorized_keys/", type: "directory", mode: 0o755 });
  pack.entry({ name: "etc/drover/docker/", type: "directory", mode: 0o700 });
  pack.entry({ name: "etc/drover/ssh_host_ed25519_key", mode: 0o600 }, `${boot.hostKey.trim()}\n`);
  pack.entry(
    { name: `etc/drover/authorized_keys/${boot.sshUser}`, mode: 0o644 },
    `${boot.authorizedKey.trim()}\n`,
  );
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

export class LocalProvider implements MachineProvider {
  readonly name = "local";
  private readonly docker: Docker;
  private readonly config: LocalProviderConfig;
  private networkReady: Promise<void> | null = null;

  constructor(
    config: z.input<typeof localProviderConfigSchema>,
    private readonly log: Logger,
  ) {
    this.config = localProviderConfigSchema.parse(config);
    this.docker = new Docker({ socketPath: this.config.socketPath });
  }

  private ensureNetwork(): Promise<void> {
    this.networkReady ??= (async () => {
      const net = this.docker.getNetwork(this.config.network);
      try {
        await net.inspect();
      } catch (err) {
        if (!isNotFound(err)) throw err;
        await this.docker
          .createNetwork({
            Name: this.config.network,
            Driver: "bridge",
            CheckDuplicate: true,
            Labels: { [MANAGED_LABEL]: "network" },
          })
          .catch((e: unknown) => {
            // Another process made it first.
            if ((e as { statusCode?: number }).statusCode !== 409) throw e;
          });
      }
    })().catch((err: unknown) => {
      this.networkReady = null;
      throw this.fail("config", `cannot prepare network ${this.config.network}`, err);
    });
    return this.networkReady;
  }

  private fail(kind: ProviderError["kind"], message: string, cause: unknown): ProviderError {
    const detail = cause instanceof Error ? `: ${cause.message}` : "";
    return new ProviderError(this.name, kind, `${message}${detail}`, { cause });
  }

  async create(specs: MachineSpec[]): Promise<string[]> {
    await this.ensureNetwork();
    const ids: string[] = [];
    for (const spec of specs) {
      const memory = this.config.memoryMiB[spec.resourceClass] ?? this.config.memoryMiB.default;
      let container: Docker.Container;
      try {
        container = await this.docker.createContainer({
          Image: this.config.image,
          Hostname: "drover-machine",
          Labels: {
            [MANAGED_LABEL]: "machine",
            "io.drover.vm.image": spec.image,
            "io.drover.vm.resource-class": spec.resourceClass,
            ...tagLabels(spec.tags),
          },
          HostConfig: {
            CapAdd: MACHINE_CAPS,
            SecurityOpt: MACHINE_SECURITY,
            DeviceCgroupRules: ["a *:* rwm"],
            // `--security-opt systempaths=unconfined`: nothing masked or read-only under /proc.
            ...{ MaskedPaths: [], ReadonlyPaths: [] },
            NetworkMode: this.config.network,
            ...(memory ? { Memory: memory * 1024 * 1024 } : {}),
          },
        });
      } catch (err) {
        throw this.fail(
          isNotFound(err) ? "config" : "unavailable",
          isNotFound(err)
            ? `image ${this.config.image} is missing (build it with \`npm run images\`)`
            : "cannot create the machine container",
          err,
        );
      }
      ids.push(container.id);
      try {
        await container.putArchive(await bootArchive(spec), { path: "/" });
        await container.start();
      } catch (err) {
        await container.remove({ force: true, v: true }).catch(() => {});
        throw this.fail("unavailable", "cannot start the machine container", err);
      }
      this.log.info({ vmId: container.id.slice(0, 12), image: spec.image }, "machine created");
    }
    return ids;
  }

  private async info(id: string): Promise<MachineInfo | null> {
    try {
      const c = await this.docker.getContainer(id).inspect();
      const address = c.NetworkSettings.Networks[this.config.network]?.IPAddress || null;
      const state = stateOf(c.State.Status);
      return {
        id: c.Id,
        state,
        tags: labelTags(c.Config.Labels),
        internalAddress: address,
        externalAddress: null,
        createdAt: new Date(c.Created),
        ...(state === "failed"
          ? { failure: `container ${c.State.Status} (exit ${c.State.ExitCode})` }
          : {}),
      };
    } catch (err) {
      if (isNotFound(err)) return null;
      throw this.fail("unavailable", `cannot inspect machine ${id}`, err);
    }
  }

  async describe(ids: string[]): Promise<MachineInfo[]> {
    const found = await Promise.all(ids.map((id) => this.info(id)));
    return found.filter((m): m is MachineInfo => m !== null);
  }

  async list(tags: Record<string, string>): Promise<MachineInfo[]> {
    const labels = [
      `${MANAGED_LABEL}=machine`,
      ...Object.entries(tagLabels(tags)).map(([k, v]) => `${k}=${v}`),
    ];
    let listed: Docker.ContainerInfo[];
    try {
      listed = await this.docker.listContainers({ all: true, filters: { label: labels } });
    } catch (err) {
      throw this.fail("unavailable", "cannot list machines", err);
    }
    return this.describe(listed.map((c) => c.Id));
  }

  async destroy(ids: string[]): Promise<void> {
    await Promise.all(
      ids.map(async (id) => {
        try {
          await this.docker.getContainer(id).remove({ force: true, v: true });
          this.log.info({ vmId: id.slice(0, 12) }, "machine destroyed");
        } catch (err) {
          const code = (err as { statusCode?: number }).statusCode;
          // Gone already, or being removed by another call.
          if (code === 404 || code === 409) return;
          throw this.fail("unavailable", `cannot destroy machine ${id}`, err);
        }
      }),
    );
  }

  async health(): Promise<ProviderHealth> {
    try {
      await this.docker.ping();
      await this.docker.getImage(this.config.image).inspect();
      return { ok: true, detail: `docker engine up, ${this.config.image} present` };
    } catch (err) {
      return {
        ok: false,
        detail: isNotFound(err)
          ? `image ${this.config.image} is missing (build it with \`npm run images\`)`
          : `docker engine unreachable: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
  }

  async close(): Promise<void> {
    // dockerode keeps no connection open between calls.
  }
}
