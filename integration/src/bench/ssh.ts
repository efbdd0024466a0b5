/**
 * `npm run bench -- ssh [--rounds N]`: a rerun with SSH, from `ssh` starting to the first command's
 * output. Drover's SSH server (the agent's, a session in the job's primary container through
 * `docker exec`) beside a plain OpenSSH sshd on this machine running the same command, both reached
 * with the OpenSSH client in the same run (goal <= 1.5x).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { parseArgs } from "node:util";
import Docker from "dockerode";
import { pino } from "pino";
import {
  DockerExecutor,
  RerunSshServer,
  defaultExecutorConfig,
  parseImageAliases,
} from "@drover/build-agent";
import type { TaskSpec } from "@drover/task-api";
import { generateSshKeyPair } from "@drover/vm-service";

const logger = pino({ level: "silent" });
const line = (s: string): void => void process.stdout.write(`${s}\n`);
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** ms from spawning `ssh` to the first byte of the command's output. */
function timeToFirstOutput(args: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const c = spawn("ssh", args, { stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    c.stderr.on("data", (d: Buffer) => (err += d.toString()));
    c.stdout.once("data", () => resolve(performance.now() - t0));
    c.once("close", (code) => reject(new Error(`ssh exited ${code} before output: ${err}`)));
  });
}

function task(): TaskSpec {
  return {
    taskId: `bench-${randomUUID()}`,
    attempt: 1,
    node: { index: 0, total: 1 },
    project: { slug: "gh/bench/ssh", org: "bench", repo: "ssh", gitUrl: "file:///nonexistent" },
    pipeline: { id: randomUUID(), number: 1, branch: "main", revision: "0".repeat(40) },
    workflow: { id: randomUUID(), name: "bench" },
    job: { id: randomUUID(), name: "ssh", number: 1, url: "http://127.0.0.1/" },
    executor: { type: "docker", images: [{ image: "cimg/base:stable", environment: {} }] },
    steps: [],
    workingDirectory: "~/project",
    resourceClass: "small",
    environment: { project: {}, contexts: {}, job: {} },
    secrets: [],
    ssh: { enabled: true, authorizedKeys: [] },
    output: { url: "", token: "" },
  };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { rounds: { type: "string", default: "15" } } });
  const rounds = Number(values.rounds);
  const dir = mkdtempSync(join(tmpdir(), "drover-bench-ssh-"));
  const user = generateSshKeyPair("bench");
  writeFileSync(join(dir, "id"), user.privateKey, { mode: 0o600 });
  const client = (port: number, who: string) => [
    "-p",
    String(port),
    "-i",
    join(dir, "id"),
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "BatchMode=yes",
    "-o",
    "StrictHostKeyChecking=no",
    "-o",
    "UserKnownHostsFile=/dev/null",
    "-o",
    "LogLevel=ERROR",
    `${who}@127.0.0.1`,
    "echo first",
  ];

  // Drover: the agent's server in front of a job's primary container.
  const docker = new Docker({ socketPath: "/var/run/docker.sock" });
  const executor = new DockerExecutor(
    docker,
    task(),
    defaultExecutorConfig({ aliases: parseImageAliases("cimg/base:*=drover/ci-base") }),
  );
  let sshd: ChildProcess | undefined;
  const server = new RerunSshServer({
    authorizedKeys: [user.publicKey],
    host: "127.0.0.1",
    port: { from: 64535, to: 65535 },
    logger,
    spawn: (req) => executor.interactive({ ...req, env: {}, workdir: "/root", shell: "/bin/bash" }),
  });
  try {
    await executor.setup(() => {});
    const dport = await server.listen();

    // The peer: OpenSSH's sshd on a loopback port, the same key, the command run on this host.
    const sport = await freePort();
    const hostKey = generateSshKeyPair("bench-host");
    writeFileSync(join(dir, "host"), hostKey.privateKey, { mode: 0o600 });
    writeFileSync(join(dir, "authorized"), `${user.publicKey}\n`, { mode: 0o644 });
    chmodSync(dir, 0o755);
    writeFileSync(
      join(dir, "sshd_config"),
      [
        `Port ${sport}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${join(dir, "host")}`,
        `AuthorizedKeysFile ${join(dir, "authorized")}`,
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "PermitRootLogin prohibit-password",
        "StrictModes no",
        "UsePAM no",
        "UseDNS no",
        `PidFile ${join(dir, "sshd.pid")}`,
      ].join("\n"),
    );
    spawnSync("mkdir", ["-p", "/run/sshd"]);
    sshd = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", join(dir, "sshd_config")], {
      stdio: "ignore",
    });
    for (let i = 0; i < 100; i++) {
      const ok = await timeToFirstOutput(client(sport, "root")).then(
        () => true,
        () => false,
      );
      if (ok) break;
      await new Promise((r) => setTimeout(r, 100));
    }

    const ours: number[] = [];
    const peer: number[] = [];
    for (let i = 0; i < rounds; i++) {
      ours.push(await timeToFirstOutput(client(dport, "anyone")));
      peer.push(await timeToFirstOutput(client(sport, "root")));
    }
    const o = median(ours);
    const p = median(peer);
    line(
      `ssh to first output, ${rounds} rounds: Drover's SSH server (docker exec into the job) median ${o.toFixed(1)} ms` +
        ` | OpenSSH sshd on this host ${p.toFixed(1)} ms -> ${(o / p).toFixed(2)}x (goal <= 1.5x)`,
    );
  } finally {
    sshd?.kill("SIGTERM");
    await server.close();
    await executor.destroy();
  }
}
