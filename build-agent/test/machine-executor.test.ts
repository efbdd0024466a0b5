import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import pino from "pino";
import tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LeaseService,
  leaseAccess,
  LocalProvider,
  PostgresSql,
  ensureVmSchema,
  generateSshKeyPair,
  sshFingerprint,
  type MachineLease,
} from "@drover/vm-service";
import type { TaskSpec } from "@drover/task-api";
import { MachineExecutor } from "../src/executor/machine/machine-executor.js";
import { checkout } from "../src/steps/checkout.js";
import type { StepContext } from "../src/steps/context.js";

const logger = pino({ level: "silent" });
const ready = spawnSync("docker", ["image", "inspect", "drover/machine:latest"]).status === 0;
if (!ready && process.env.CI === "true") throw new Error("CI: drover/machine:latest is required");
const describeMachine = ready ? describe : describe.skip;

async function tarOf(files: Record<string, string>): Promise<Readable> {
  const pack = tar.pack();
  for (const [name, body] of Object.entries(files)) pack.entry({ name }, body);
  pack.finalize();
  return pack as unknown as Readable;
}

async function names(stream: Readable): Promise<Record<string, string>> {
  const extract = tar.extract();
  const out: Record<string, string> = {};
  extract.on("entry", (h, s, next) => {
    let body = "";
    s.on("data", (d: Buffer) => (body += d.toString()));
    s.on("end", () => {
      out[h.name] = body;
      next();
    });
  });
  const done = new Promise((r) => extract.on("finish", r));
  stream.pipe(extract);
  await done;
  return out;
}

describeMachine("machine executor over SSH on a leased local machine", () => {
  const db = new PostgresSql({
    connectionString:
      process.env.DROVER_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
    schema: `agent_vm_${randomUUID().replace(/-/g, "").slice(0, 12)}`,
  });
  const installId = `agent-test-${randomUUID()}`;
  const provider = new LocalProvider({}, logger);
  let leases: LeaseService;
  let executor: MachineExecutor;
  let released = 0;
  let jobLease: MachineLease | undefined;

  beforeAll(async () => {
    await ensureVmSchema(db);
    leases = new LeaseService({ db, provider, logger, config: { installId } });
    executor = new MachineExecutor({
      workingDirectory: "~/project",
      lease: async () => {
        const l = await leases.lease({
          taskId: randomUUID(),
          image: "default",
          resourceClass: "medium",
        });
        jobLease = l;
        return {
          access: leaseAccess(l),
          release: async () => {
            released++;
            await leases.release(l.id);
          },
        };
      },
    });
  });
  afterAll(async () => {
    await executor.destroy();
    const left = await provider.list({ install: installId });
    await provider.destroy(left.map((m) => m.id));
    await db.close();
  });

  // A machine boots a Docker engine of its own: slow when the whole suite loads this machine.
  it(
    "sets up: the user's home, the working directory, the shell",
    { timeout: 300_000 },
    async () => {
      const lines: string[] = [];
      const info = await executor.setup((l) => lines.push(l));
      expect(info.home).toBe("/home/circleci");
      expect(info.workingDirectory).toBe("/home/circleci/project");
      expect(info.shell[0]).toBe("/bin/bash");
      expect(info.services).toEqual([]);
      expect(lines.join("\n")).toContain("leased");
    },
  );

  it("runs commands with the job's environment and directory, streaming output, with exit codes", async () => {
    const out: string[] = [];
    const h = executor.exec({
      argv: ["/bin/bash", "-c", 'echo "$GREETING from $(pwd)"; echo oops >&2; exit 3'],
      env: { GREETING: "it's me", EMPTY: "" },
      workdir: "/home/circleci/project",
      onOutput: (stream, data) => void out.push(`${stream}:${data}`),
    });
    const r = await h.result;
    expect(r).toEqual({ exitCode: 3, timedOut: false, killed: false });
    expect(out.join("")).toContain("stdout:it's me from /home/circleci/project");
    expect(out.join("")).toContain("stderr:oops");
    const docker = await executor.exec({ argv: ["docker", "info", "--format", "{{.OSType}}"] })
      .result;
    expect(docker.exitCode).toBe(0);
  });

  it("ends a silent command at its no-output timeout, and kills what it started", async () => {
    const silent = await executor.exec({
      argv: ["/bin/sh", "-c", "sleep 300 & sleep 300"],
      noOutputTimeoutMs: 300,
    }).result;
    expect(silent.timedOut).toBe(true);
    let text = "";
    await executor.exec({
      argv: ["/bin/sh", "-c", "pgrep -x sleep | wc -l"],
      onOutput: (_s, d) => void (text += d),
    }).result;
    expect(text.trim()).toBe("0");
    const h = executor.exec({ argv: ["sleep", "300"] });
    await h.kill();
    expect(await h.result).toMatchObject({ killed: true });
  });

  it("moves files in and out as tar archives", async () => {
    await executor.putArchive(
      "/home/circleci/project",
      await tarOf({ "a.txt": "alpha", "dir/b.txt": "beta" }),
    );
    const back = await executor.getArchive("/home/circleci/project/dir");
    expect(back).toBeDefined();
    expect(await names(back!)).toMatchObject({ "dir/b.txt": "beta" });
    expect(await executor.getArchive("/home/circleci/project/missing")).toBeUndefined();
  });

  it("checks out a repository onto the machine (the tar reaches it after an SSH round trip)", async () => {
    const src = mkdtempSync(path.join(os.tmpdir(), "drover-machine-repo-"));
    const git = (...args: string[]) =>
      spawnSync("git", ["-C", src, "-c", "user.name=t", "-c", "user.email=t@t", ...args]);
    git("init", "-q", "-b", "main");
    writeFileSync(path.join(src, "c.txt"), "gamma");
    git("add", ".");
    git("commit", "-qm", "one");
    const revision = git("rev-parse", "HEAD").stdout.toString().trim();
    const info = {
      home: "/home/circleci",
      machine: "x86_64",
      shell: ["/bin/bash", "-eo", "pipefail", "-c"],
      workingDirectory: "/home/circleci/project",
      services: [],
      uid: 1000,
      gid: 1000,
    };
    const task = {
      project: { gitUrl: src },
      pipeline: { revision, branch: "main" },
    } as unknown as TaskSpec;
    const out = await checkout(
      {
        task,
        executor,
        info,
        storage: {} as StepContext["storage"],
        env: {},
        mask: (t) => t,
        log: () => {},
      },
      { path: "~/repo" },
    );
    expect(out).toMatchObject({ status: "success" });
    const back = await executor.getArchive("/home/circleci/repo/c.txt");
    expect(await names(back!)).toEqual({ "c.txt": "gamma" });
    rmSync(src, { recursive: true, force: true });
  });

  it("lets only the rerun user's keys in on the machine's own OpenSSH (54782)", async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "drover-rerun-ssh-"));
    const user = generateSshKeyPair("rerun-user");
    const other = generateSshKeyPair("someone-else");
    writeFileSync(path.join(dir, "user"), user.privateKey, { mode: 0o600 });
    writeFileSync(path.join(dir, "other"), other.privateKey, { mode: 0o600 });
    writeFileSync(path.join(dir, "job"), jobLease!.sshPrivateKey, { mode: 0o600 });
    const where = await executor.enableRerunSsh([user.publicKey]);
    expect(where).toEqual({
      host: jobLease!.host,
      port: 54782,
      user: "circleci",
      hostKeyFingerprint: sshFingerprint(jobLease!.hostPublicKey),
    });
    writeFileSync(path.join(dir, "known"), `[${where.host}]:54782 ${jobLease!.hostPublicKey}\n`);
    const ssh = (key: string, port: number, ...cmd: string[]) =>
      spawnSync("ssh", [
        "-p",
        String(port),
        "-i",
        path.join(dir, key),
        "-o",
        `UserKnownHostsFile=${path.join(dir, "known")}`,
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "BatchMode=yes",
        "-o",
        "IdentitiesOnly=yes",
        `circleci@${where.host}`,
        ...cmd,
      ]);
    const ok = ssh("user", 54782, "echo", "in as $(id -un); exit 3");
    expect(ok.stdout.toString()).toBe("in as circleci\n");
    expect(ok.status).toBe(3);
    expect(ssh("other", 54782, "true").status).toBe(255);
    expect(ssh("job", 54782, "true").status).toBe(255);
    expect(ssh("user", 22, "true").status).toBe(255);
    rmSync(dir, { recursive: true, force: true });
  });

  it(
    "ends a command as an infrastructure failure when its machine dies mid-step",
    { timeout: 300_000 },
    async () => {
      const other = new MachineExecutor({
        workingDirectory: "~/project",
        lease: async () => {
          const l = await leases.lease({
            taskId: randomUUID(),
            image: "default",
            resourceClass: "medium",
          });
          doomed = l.providerId;
          return { access: leaseAccess(l), release: () => leases.release(l.id) };
        },
      });
      let doomed = "";
      await other.setup(() => {});
      let started!: () => void;
      const running = new Promise<void>((r) => (started = r));
      const h = other.exec({
        argv: ["sh", "-c", "echo started; sleep 120"],
        onOutput: () => started(),
      });
      const outcome = h.result.then(
        () => undefined,
        (e: unknown) => e,
      );
      await running;
      await provider.destroy([doomed]);
      const err = await outcome;
      expect(err).toMatchObject({ code: "DROVER_ERR_MACHINE", infrastructure: true });
      expect(String((err as Error).message)).toMatch(/machine \S+ (stopped answering|closed)/);
      await other.destroy();
    },
  );

  it("releases the machine once when destroyed", async () => {
    await executor.destroy();
    await executor.destroy();
    expect(released).toBe(1);
    expect(await provider.list({ install: installId })).toEqual([]);
  });
});
