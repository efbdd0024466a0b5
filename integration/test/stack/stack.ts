/**
 * The distributed stack on real containers, started with testcontainers (its Ryuk reaper image
 * cannot be pulled here: it is disabled and `stop()` removes everything): PostgreSQL and Redis
 * (local stand-ins for postgres:16 and redis:7), two control-plane instances with the `queue`
 * scheduler, two output-processors sharing one log volume, and a runner whose agents run their
 * jobs on this host's Docker engine. Faults are injected with the Docker CLI, as an operator would.
 */
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { execFileSync } from "node:child_process";

const run = promisify(execFile);

export const STACK_IMAGES = [
  "drover/control-plane:latest",
  "drover/output-processor:latest",
  "drover/runner:latest",
  "drover/postgres:15",
  "drover/redis:7",
  "drover/ci-base:latest",
] as const;

/** Images of the stack missing on this engine. */
export async function missingImages(): Promise<string[]> {
  const missing: string[] = [];
  for (const image of STACK_IMAGES) {
    await run("docker", ["image", "inspect", image]).catch(() => missing.push(image));
  }
  return missing;
}

export type ServiceName = "postgres" | "redis" | "cp1" | "cp2" | "op1" | "op2" | "runner";

interface Started {
  getId(): string;
  getMappedPort(port: number): number;
  getHost(): string;
  stop(opts?: { remove?: boolean; timeout?: number }): Promise<unknown>;
}

export interface Stack {
  /** Base URLs on this host. */
  cp1: string;
  cp2: string;
  op1: string;
  op2: string;
  postgresUrl: string;
  pusher: { appKey: string; appSecret: string };
  /** Where test repositories go: the same path in the control planes and the runner. */
  newRepo(name: string, files: Record<string, string>): string;
  kill(name: ServiceName): Promise<void>;
  start(name: ServiceName): Promise<void>;
  restart(name: ServiceName): Promise<void>;
  /** Takes a service off the network and back after `ms` (its aliases restored). */
  cut(names: ServiceName[], ms: number): Promise<void>;
  logs(name: ServiceName): Promise<string>;
  stop(): Promise<void>;
}

const secret = (): string => randomBytes(24).toString("base64url");

export async function startStack(): Promise<Stack> {
  process.env.TESTCONTAINERS_RYUK_DISABLED = "true";
  const { GenericContainer, Network, Wait } = await import("testcontainers");
  const network = await new Network().start();
  const netName = network.getName();
  const root = mkdtempSync(join(tmpdir(), "drover-stack-"));
  chmodSync(root, 0o755);
  const git = join(root, "git");
  const logs = join(root, "output");
  mkdirSync(git, { mode: 0o755 });
  mkdirSync(logs);
  chmodSync(logs, 0o777);
  const dockerGid = statSync("/var/run/docker.sock").gid;
  const keys = {
    DROVER_OUTPUT_TOKEN_SECRET: secret(),
    DROVER_OUTPUT_READ_TOKEN: secret(),
    DROVER_PUSHER_APP_KEY: `stack-${randomBytes(4).toString("hex")}`,
    DROVER_PUSHER_APP_SECRET: secret(),
    REDIS_URL: "redis://redis:6379",
    // The stack's own private network: plaintext there is the operator's choice.
    DROVER_ALLOW_PLAINTEXT: "true",
  };
  const databaseUrl = "postgres://postgres@postgres:5432/drover";
  const containers = new Map<ServiceName, Started>();
  let runnerHost = "";
  const aliases: Record<ServiceName, string[]> = {
    postgres: ["postgres"],
    redis: ["redis"],
    cp1: ["control-plane", "cp1"],
    cp2: ["control-plane", "cp2"],
    op1: ["output", "op1"],
    op2: ["output", "op2"],
    runner: ["runner"],
  };
  const stop = async (): Promise<void> => {
    for (const c of containers.values())
      await c.stop({ remove: true, timeout: 2_000 }).catch(() => undefined);
    // Job containers and networks the runner's agents left (a killed runner leaves them).
    if (runnerHost) {
      const filter = ["--filter", `label=drover.agent.host=${runnerHost}`];
      const ids = async (args: string[]) =>
        (await run("docker", [...args, ...filter]).catch(() => ({ stdout: "" }))).stdout
          .split(/\s+/)
          .filter(Boolean);
      const left = await ids(["ps", "-aq"]);
      if (left.length > 0) await run("docker", ["rm", "-f", ...left]).catch(() => undefined);
      const nets = await ids(["network", "ls", "-q"]);
      if (nets.length > 0) await run("docker", ["network", "rm", ...nets]).catch(() => undefined);
    }
    await network.stop().catch(() => undefined);
    rmSync(root, { recursive: true, force: true });
  };
  try {
    const base = (image: string, name: ServiceName) =>
      new GenericContainer(image)
        .withNetwork(network)
        .withNetworkAliases(...aliases[name])
        .withLabels({ "io.drover.stack-test": "1" });
    containers.set(
      "postgres",
      await base("drover/postgres:15", "postgres")
        .withExposedPorts(5432)
        .withWaitStrategy(Wait.forHealthCheck())
        .start(),
    );
    containers.set(
      "redis",
      await base("drover/redis:7", "redis").withWaitStrategy(Wait.forHealthCheck()).start(),
    );
    const cpEnv = {
      ...keys,
      DATABASE_URL: databaseUrl,
      DROVER_MASTER_KEY: randomBytes(32).toString("base64"),
      DROVER_ARTIFACTS_SIGNING_KEY: secret(),
      DROVER_SCHEDULER: "queue",
      DROVER_OUTPUT_EMBEDDED: "false",
      DROVER_OUTPUT_URL: "http://output:8585",
      DROVER_INTERNAL_URL: "http://control-plane:8080",
      DROVER_VM: "off",
      DROVER_TICK_MS: "1000",
    };
    const cp = (name: "cp1" | "cp2") =>
      base("drover/control-plane:latest", name)
        .withEnvironment(cpEnv)
        .withExposedPorts(8080)
        .withBindMounts([{ source: git, target: git, mode: "ro" }])
        .withWaitStrategy(Wait.forHealthCheck())
        .withStartupTimeout(120_000)
        .start();
    // One first: it applies the migrations and makes the admin.
    containers.set("cp1", await cp("cp1"));
    containers.set("cp2", await cp("cp2"));
    for (const name of ["op1", "op2"] as const) {
      containers.set(
        name,
        await base("drover/output-processor:latest", name)
          .withEnvironment(keys)
          .withExposedPorts(8585)
          .withBindMounts([{ source: logs, target: "/var/lib/drover/output", mode: "rw" }])
          .withWaitStrategy(Wait.forHealthCheck())
          .start(),
      );
    }
    containers.set(
      "runner",
      await base("drover/runner:latest", "runner")
        .withEnvironment({
          DATABASE_URL: databaseUrl,
          DROVER_RUNNER_ID: "runner-1",
          DROVER_RUNNER_CAPACITY: "6",
          DROVER_ALLOW_PLAINTEXT: "true",
        })
        .withUser(`10001:${dockerGid}`)
        .withBindMounts([
          { source: "/var/run/docker.sock", target: "/var/run/docker.sock", mode: "rw" },
          { source: git, target: git, mode: "ro" },
        ])
        .withWaitStrategy(Wait.forHealthCheck())
        .start(),
    );
    runnerHost = containers.get("runner")!.getId().slice(0, 12);
  } catch (err) {
    await stop();
    throw err;
  }
  const id = (name: ServiceName): string => containers.get(name)!.getId();
  const ports: Partial<Record<ServiceName, number>> = {
    cp1: 8080,
    cp2: 8080,
    op1: 8585,
    op2: 8585,
    postgres: 5432,
  };
  const hostPort = new Map<ServiceName, number>();
  for (const [name, port] of Object.entries(ports) as Array<[ServiceName, number]>) {
    hostPort.set(name, containers.get(name)!.getMappedPort(port));
  }
  // A restarted container gets a new host port.
  const remap = async (name: ServiceName): Promise<void> => {
    const port = ports[name];
    if (!port) return;
    const { stdout } = await run("docker", ["port", id(name), `${port}/tcp`]);
    const m = /:(\d+)\s*$/m.exec(stdout.split("\n")[0] ?? "");
    if (m) hostPort.set(name, Number(m[1]));
  };
  const url = (name: ServiceName): string => `http://127.0.0.1:${hostPort.get(name)}`;
  // A restarted service counts as back once its health check passes, as compose would wait.
  const healthy = async (name: ServiceName): Promise<void> => {
    const end = Date.now() + 180_000;
    while (Date.now() < end) {
      const { stdout } = await run("docker", [
        "inspect",
        "-f",
        "{{.State.Health.Status}}",
        id(name),
      ]);
      if (stdout.trim() === "healthy") return;
      await new Promise((r) => setTimeout(r, 500));
    }
    throw new Error(`${name} did not become healthy in 180 s`);
  };
  return {
    get cp1() {
      return url("cp1");
    },
    get cp2() {
      return url("cp2");
    },
    get op1() {
      return url("op1");
    },
    get op2() {
      return url("op2");
    },
    get postgresUrl() {
      return `postgres://postgres@127.0.0.1:${hostPort.get("postgres")}/drover`;
    },
    pusher: { appKey: keys.DROVER_PUSHER_APP_KEY, appSecret: keys.DROVER_PUSHER_APP_SECRET },
    newRepo(name, files) {
      const dir = join(git, name);
      mkdirSync(dir);
      const env = {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@example.invalid",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@example.invalid",
      };
      execFileSync("git", ["init", "-q", "-b", "main"], { cwd: dir, env });
      for (const [p, text] of Object.entries(files)) {
        mkdirSync(join(dir, p, ".."), { recursive: true });
        writeFileSync(join(dir, p), text);
      }
      execFileSync("git", ["add", "-A"], { cwd: dir, env });
      execFileSync("git", ["commit", "-q", "-m", "init"], { cwd: dir, env });
      execFileSync("chmod", ["-R", "a+rX", dir]);
      return `file://${dir}`;
    },
    async kill(name) {
      await run("docker", ["kill", id(name)]);
    },
    async start(name) {
      await run("docker", ["start", id(name)]);
      await remap(name);
      await healthy(name);
    },
    async restart(name) {
      await run("docker", ["restart", "-t", "2", id(name)]);
      await remap(name);
      await healthy(name);
    },
    async cut(names, ms) {
      for (const n of names) await run("docker", ["network", "disconnect", netName, id(n)]);
      await new Promise((r) => setTimeout(r, ms));
      for (const n of names) {
        await run("docker", [
          "network",
          "connect",
          ...aliases[n].flatMap((a) => ["--alias", a]),
          netName,
          id(n),
        ]);
      }
    },
    async logs(name) {
      const { stdout, stderr } = await run("docker", ["logs", "--tail", "200", id(name)], {
        maxBuffer: 16 * 1024 * 1024,
      });
      return stdout + stderr;
    },
    stop,
  };
}
