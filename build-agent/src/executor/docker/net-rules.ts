import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import type Docker from "dockerode";
import { errorMessage } from "../../errors.js";
import { JOB_BRIDGE_PREFIX } from "./job-network.js";

/** Runs a host command (stdin `input`) and resolves with its stdout; rejects on a non-zero exit. */
export type CommandRunner = (file: string, args: string[], input?: string) => Promise<string>;

export const runCommand: CommandRunner = (file, args, input) =>
  new Promise((resolve, reject) => {
    const child = execFile(file, args, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${args.join(" ")}: ${stderr.trim() || err.message}`));
      else resolve(stdout);
    });
    child.stdin?.on("error", () => undefined); // a command that does not read its input
    child.stdin?.end(input ?? "");
  });

export const CHAIN_INPUT = "DROVER-JOB-INPUT";
export const CHAIN_FORWARD = "DROVER-JOB-FORWARD";

interface Family {
  iptables: string;
  restore: string;
  /** Traffic a job may send to the host itself (beyond replies and DNS). */
  inputAllow: string[];
  reject: string;
  /** Forwarded destinations no job may reach. */
  forwardDeny: string[];
}

const FAMILIES: Family[] = [
  {
    iptables: "iptables",
    restore: "iptables-restore",
    inputAllow: [],
    reject: "icmp-admin-prohibited",
    forwardDeny: ["169.254.0.0/16"],
  },
  {
    iptables: "ip6tables",
    restore: "ip6tables-restore",
    // Neighbour discovery with the gateway, or IPv6 on a job network cannot work at all.
    inputAllow: ["router-solicitation", "neighbour-solicitation", "neighbour-advertisement"].map(
      (t) => `-p ipv6-icmp --icmpv6-type ${t}`,
    ),
    reject: "icmp6-adm-prohibited",
    forwardDeny: ["fe80::/10", "fd00:ec2::254/128"],
  },
];

/** The `iptables-restore --noflush` input that (re)writes Drover's two chains for one family. */
export function chainRules(family: "ipv4" | "ipv6"): string {
  const f = FAMILIES[family === "ipv4" ? 0 : 1] as Family;
  const reject = `-j REJECT --reject-with ${f.reject}`;
  return [
    "*filter",
    `:${CHAIN_INPUT} - [0:0]`,
    `:${CHAIN_FORWARD} - [0:0]`,
    `-A ${CHAIN_INPUT} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
    ...f.inputAllow.map((m) => `-A ${CHAIN_INPUT} ${m} -j RETURN`),
    `-A ${CHAIN_INPUT} -p udp --dport 53 -j RETURN`,
    `-A ${CHAIN_INPUT} -p tcp --dport 53 -j RETURN`,
    `-A ${CHAIN_INPUT} ${reject}`,
    ...f.forwardDeny.map((d) => `-A ${CHAIN_FORWARD} -d ${d} ${reject}`),
    "COMMIT",
    "",
  ].join("\n");
}

export interface NetRulesOptions {
  /** Interface-name prefix of the bridges the rules guard (default: the job bridges'). */
  bridgePrefix?: string;
  /** Host-wide lock serializing installs and removals (held with flock(1) when it exists). */
  lockFile?: string;
  run?: CommandRunner;
}

/**
 * Host firewall rules for job networks (iptables and ip6tables, filter table):
 * - `DROVER-JOB-INPUT`, jumped to from `INPUT` for traffic entering from a job bridge: replies and
 *   DNS pass, everything else addressed to the host itself (any of its addresses) is rejected;
 * - `DROVER-JOB-FORWARD`, jumped to from `DOCKER-USER` (or `FORWARD` when Docker does not manage
 *   the family): 169.254.0.0/16, fe80::/10 and fd00:ec2::254 are rejected.
 * Traffic between job networks is left to Docker's own isolation chains.
 *
 * The rules match every job bridge by its interface-name prefix, so they are installed once per
 * host, not per network: there is nothing to add when a job starts or to remove when it ends, and
 * nothing leaks when an agent dies. `install` is idempotent and safe to run concurrently from many
 * agents (it rewrites both chains atomically and adds each jump at most once); `remove` takes all
 * of it away. Both need root in the engine host's network namespace.
 */
export class JobNetRules {
  private readonly prefix: string;
  private readonly lockFile: string;
  private readonly run: CommandRunner;

  constructor(opts: NetRulesOptions = {}) {
    this.prefix = opts.bridgePrefix ?? JOB_BRIDGE_PREFIX;
    this.lockFile = opts.lockFile ?? "/run/drover-net-rules.lock";
    this.run = opts.run ?? runCommand;
  }

  async install(): Promise<void> {
    await this.locked(async () => {
      for (const [i, f] of FAMILIES.entries()) {
        await this.run(f.restore, ["--noflush"], chainRules(i === 0 ? "ipv4" : "ipv6"));
        await this.ensureJump(f, "INPUT", CHAIN_INPUT);
        const parent = (await this.ok(f, ["-S", "DOCKER-USER"])) ? "DOCKER-USER" : "FORWARD";
        await this.ensureJump(f, parent, CHAIN_FORWARD);
      }
    });
  }

  async remove(): Promise<void> {
    await this.locked(async () => {
      for (const f of FAMILIES) {
        for (const [parent, chain] of [
          ["INPUT", CHAIN_INPUT],
          ["DOCKER-USER", CHAIN_FORWARD],
          ["FORWARD", CHAIN_FORWARD],
        ] as const) {
          for (let i = 0; i < 100 && (await this.ok(f, ["-D", parent, ...this.jump(chain)])); i++);
        }
        for (const chain of [CHAIN_INPUT, CHAIN_FORWARD]) {
          if (await this.ok(f, ["-F", chain])) await this.run(f.iptables, ["-w", "-X", chain]);
        }
      }
    });
  }

  private jump(chain: string): string[] {
    return ["-i", `${this.prefix}+`, "-j", chain];
  }

  private async ensureJump(f: Family, parent: string, chain: string): Promise<void> {
    if (!(await this.ok(f, ["-C", parent, ...this.jump(chain)])))
      await this.run(f.iptables, ["-w", "-I", parent, "1", ...this.jump(chain)]);
  }

  private ok(f: Family, args: string[]): Promise<boolean> {
    return this.run(f.iptables, ["-w", ...args]).then(
      () => true,
      () => false,
    );
  }

  /** Runs `fn` holding the host-wide lock; the kernel drops it if this process dies. */
  private async locked(fn: () => Promise<void>): Promise<void> {
    const holder = spawn("flock", [this.lockFile, "sh", "-c", "echo locked && read _"], {
      stdio: ["pipe", "pipe", "ignore"],
    });
    const held = await new Promise<boolean>((resolve) => {
      holder.stdout.once("data", () => resolve(true));
      holder.once("error", () => resolve(false)); // no flock(1): an install race adds a harmless duplicate jump
      holder.once("exit", () => resolve(false));
    });
    try {
      await fn();
    } finally {
      if (held) {
        holder.stdin.end("\n");
        await new Promise((r) => holder.once("exit", r));
      }
    }
  }
}

/**
 * Why the rules cannot be installed by this process, or undefined when they can: the engine must
 * be local, the agent root, iptables and ip6tables present, and the engine's bridges visible here
 * (an agent in a container of its own would only change its own namespace's rules).
 */
export async function netRulesUnavailable(
  docker: Docker,
  localEngine: boolean,
  run: CommandRunner = runCommand,
): Promise<string | undefined> {
  if (!localEngine)
    return "the Docker engine is not on this host (DOCKER_HOST): install the rules on the engine's host";
  if (process.getuid?.() !== 0) return "the agent does not run as root";
  for (const bin of ["iptables", "ip6tables"]) {
    try {
      await run(bin, ["--version"]);
    } catch (err) {
      return `${bin} cannot run: ${errorMessage(err)}`;
    }
  }
  // An engine that does not answer fails the task later, with that reason; the check waits for it.
  const networks = await docker.listNetworks({ filters: { driver: ["bridge"] } }).catch(() => []);
  const bridges = networks.map(
    (n) => n.Options?.["com.docker.network.bridge.name"] ?? `br-${n.Id.slice(0, 12)}`,
  );
  if (bridges.length > 0 && !bridges.some((b) => existsSync(`/sys/class/net/${b}`)))
    return "the agent is not in the Docker host's network namespace (none of the engine's bridges is visible)";
  return undefined;
}
