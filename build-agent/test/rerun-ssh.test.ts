/**
 * A rerun with SSH through the real agent and the real OpenSSH client: the Enable SSH step prints
 * the command and the host key's fingerprint; the user's key gets a session in the primary
 * container (the job's environment with its secrets, its working directory, exit codes, scp and
 * sftp, a PTY that follows window changes); other keys are refused; the wait ends by its timers,
 * or at once when the task is canceled; logins and logouts are reported for the audit log.
 */
import { spawn } from "node:child_process";
import { connect } from "node:net";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import ssh2 from "ssh2";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { MemorySink, NO_KEYS_MESSAGE, runAgent, type AgentConfig } from "@drover/build-agent";
import { generateSshKeyPair, sshFingerprint } from "@drover/vm-service";
import { TaskServer } from "./helpers/task-server.js";
import { agentConfig, docker, logger, makeTask, requireDocker, run } from "./helpers/fixtures.js";

const server = new TaskServer();
beforeAll(async () => {
  await requireDocker();
  await server.start();
});
afterAll(() => server.stop());

const user = generateSshKeyPair("rerun-user");
const stranger = generateSshKeyPair("stranger");
const dir = mkdtempSync(join(tmpdir(), "drover-rerun-ssh-"));
writeFileSync(join(dir, "user"), user.privateKey, { mode: 0o600 });
writeFileSync(join(dir, "stranger"), stranger.privateKey, { mode: 0o600 });

const sshConfig = (limits: Partial<AgentConfig["ssh"]["limits"]>): Partial<AgentConfig> => ({
  ssh: {
    bindHost: "127.0.0.1",
    advertiseHost: "127.0.0.1",
    port: { from: 64535, to: 65535 },
    limits: { firstConnectMs: 60_000, idleMs: 60_000, maxMs: 120_000, ...limits },
  },
});

/** Starts the agent on a task; resolves once Enable SSH printed where to connect. */
async function startRerun(
  over: Partial<AgentConfig>,
  secret = "s3cr3t-value",
  node = { index: 0, total: 1 },
  portForwarding = false,
) {
  const spec = makeTask({
    node,
    steps: [run('echo "the step sees $SECRET_TOKEN"; exit 1')],
    environment: { project: { SECRET_TOKEN: secret }, contexts: {}, job: {} },
    secrets: [secret],
    ssh: { enabled: true, authorizedKeys: [user.publicKey], portForwarding },
  });
  const sink = new MemorySink();
  const token = server.addTask(spec);
  const abort = new AbortController();
  const done = runAgent({
    config: agentConfig(server, token, over),
    logger,
    signal: abort.signal,
    docker,
    sink,
  });
  const line = await vi.waitFor(
    () => {
      const m =
        /\$ ssh -p (\d+) 127\.0\.0\.1\nAny user name works; only your keys are accepted\.\nHost key fingerprint: (SHA256:\S+)/.exec(
          sink.text(-2),
        );
      if (!m) throw new Error(`no ssh line yet: ${sink.text(-2)}`);
      return { port: Number(m[1]), fingerprint: m[2]! };
    },
    { timeout: 60_000, interval: 50 },
  );
  return { spec, sink, done, abort, ...line };
}

/** Runs a client without blocking: the agent's SSH server lives in this same process. */
function client(cmd: string, args: string[]): Promise<{ status: number | null; stdout: string }> {
  return new Promise((resolve, reject) => {
    const c = spawn(cmd, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    c.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const timer = setTimeout(() => c.kill("SIGKILL"), 30_000);
    c.once("error", reject);
    c.once("close", (status) => {
      clearTimeout(timer);
      resolve({ status, stdout });
    });
  });
}

const clientOpts = (port: number, key: string) => [
  "-i",
  join(dir, key),
  "-o",
  "IdentitiesOnly=yes",
  "-o",
  "BatchMode=yes",
  "-o",
  "StrictHostKeyChecking=no",
  "-o",
  `UserKnownHostsFile=${join(dir, `known-${port}`)}`,
];

const ssh = (port: number, key: string, ...args: string[]) =>
  client("ssh", ["-p", String(port), ...clientOpts(port, key), "anyone@127.0.0.1", ...args]);

describe("rerun with SSH on the docker executor", () => {
  it(
    "lets the user's key in, to the job's environment; refuses others; ends idle",
    { timeout: 120_000 },
    async () => {
      // Several sessions one after another: an idle time no gap between them reaches under load.
      const r = await startRerun(sshConfig({ idleMs: 15_000 }));
      // The secret is masked in the log, as always.
      await vi.waitFor(() => expect(r.sink.text(0)).toMatch(/^the step sees \*+\n/), {
        timeout: 30_000,
      });
      expect(r.sink.text(0)).not.toContain("s3cr3t-value");
      const ok = await ssh(r.port, "user", 'echo "$SECRET_TOKEN in $PWD as $(id -un)"; exit 7');
      expect(ok.stdout).toBe("s3cr3t-value in /root/project as root\n");
      expect(ok.status).toBe(7);
      // The host key the user checks is the one the step printed.
      const known = readFileSync(join(dir, `known-${r.port}`), "utf8")
        .trim()
        .split("\n")[0]!;
      expect(sshFingerprint(known.split(" ").slice(1).join(" "))).toBe(r.fingerprint);
      expect((await ssh(r.port, "stranger", "true")).status).toBe(255);
      // scp (SFTP underneath) and the legacy scp protocol both reach the container.
      writeFileSync(join(dir, "up.txt"), "uploaded\n");
      const scpArgs = ["-P", String(r.port), ...clientOpts(r.port, "user")];
      const up = await client("scp", [...scpArgs, join(dir, "up.txt"), "x@127.0.0.1:/tmp/up.txt"]);
      expect(up.status).toBe(0);
      const down = await client("scp", [
        "-O",
        ...scpArgs,
        "x@127.0.0.1:/tmp/up.txt",
        join(dir, "down.txt"),
      ]);
      expect(down.status).toBe(0);
      expect(readFileSync(join(dir, "down.txt"), "utf8")).toBe("uploaded\n");
      const outcome = await r.done; // idle 1 s after the last session
      expect(outcome.result).toBe("failed"); // the job's own result
      expect(r.sink.text(-3)).toMatch(/Ending the SSH wait: idle/);
      const events = server.state(r.spec.taskId).events as Array<{
        type: string;
        event?: string;
        fingerprint?: string;
      }>;
      const sessions = events.filter((e) => e.type === "ssh_session");
      expect(sessions.map((e) => e.event)).toContain("login");
      expect(sessions.map((e) => e.event)).toContain("logout");
      expect(sessions.every((e) => e.fingerprint === user.fingerprint)).toBe(true);
    },
  );

  it("gives each parallel node its own endpoint and host key", { timeout: 120_000 }, async () => {
    const nodes = await Promise.all(
      [0, 1].map((index) =>
        startRerun(sshConfig({ idleMs: 500 }), "s3cr3t-value", { index, total: 2 }),
      ),
    );
    expect(nodes[0]!.port).not.toBe(nodes[1]!.port);
    expect(nodes[0]!.fingerprint).not.toBe(nodes[1]!.fingerprint);
    for (const [i, n] of nodes.entries()) {
      expect((await ssh(n.port, "user", "echo node $CIRCLE_NODE_INDEX")).stdout).toBe(
        `node ${i}\n`,
      );
    }
    await Promise.all(nodes.map((n) => n.done));
  });

  it(
    "forwards ssh -L to the job's own ports only when the project allows it",
    { timeout: 120_000 },
    async () => {
      const through = async (port: number): Promise<string> => {
        const local = 20000 + Math.floor(Math.random() * 20000);
        // A known-hosts file of its own: OpenSSH turns forwarding off for a host whose key
        // changed (an earlier test's job had this port with another host key).
        const tunnel = spawn("ssh", [
          "-p",
          String(port),
          ...clientOpts(port, "user").map((o) =>
            o.startsWith("UserKnownHostsFile=") ? "UserKnownHostsFile=/dev/null" : o,
          ),
          "-N",
          "-L",
          `${local}:localhost:9000`,
          "anyone@127.0.0.1",
        ]);
        try {
          return await vi.waitFor(
            () =>
              new Promise<string>((resolve, reject) => {
                const sock = connect(local, "127.0.0.1");
                let got = "";
                sock.on("data", (d: Buffer) => (got += d.toString()));
                sock.on("close", () => (got ? resolve(got) : reject(new Error("nothing came"))));
                sock.on("error", reject);
              }),
            { timeout: 20_000, interval: 300 },
          );
        } catch {
          return "";
        } finally {
          tunnel.kill();
        }
      };
      // A service in the job answering on 9000 (perl is in the image).
      const listen =
        "nohup perl -MIO::Socket::INET -e '$s=IO::Socket::INET->new(LocalPort=>9000,Listen=>5,ReuseAddr=>1) or die; while($c=$s->accept){print $c \"pong\n\"; close $c}' >/dev/null 2>&1 &";
      const allowed = await startRerun(sshConfig({}), "s3cr3t-value", { index: 0, total: 1 }, true);
      expect((await ssh(allowed.port, "user", listen)).status).toBe(0);
      expect(await through(allowed.port)).toBe("pong\n");
      // The wait would keep the job up: end it as a cancel does.
      allowed.abort.abort();
      await allowed.done;
      const refused = await startRerun(sshConfig({}));
      expect((await ssh(refused.port, "user", listen)).status).toBe(0);
      expect(await through(refused.port)).toBe("");
      refused.abort.abort();
      await refused.done;
    },
  );

  it("follows window changes in a PTY session", { timeout: 120_000 }, async () => {
    const r = await startRerun(sshConfig({ idleMs: 500 }));
    const conn = new ssh2.Client();
    await new Promise<void>((resolve, reject) =>
      conn
        .on("ready", resolve)
        .on("error", reject)
        .connect({ host: "127.0.0.1", port: r.port, username: "u", privateKey: user.privateKey }),
    );
    const out = await new Promise<string>((resolve, reject) => {
      conn.shell({ rows: 33, cols: 101, term: "xterm" }, (err, ch) => {
        if (err) return reject(err);
        let text = "";
        ch.on("data", (d: Buffer) => {
          text += d.toString();
          if (text.includes("33 101") && !text.includes("41 121")) {
            ch.setWindow(41, 121, 0, 0);
            setTimeout(() => ch.write("stty size; exit\n"), 200);
          }
        });
        ch.on("close", () => resolve(text));
        ch.write("stty size\n");
      });
    });
    conn.end();
    expect(out).toContain("33 101");
    expect(out).toContain("41 121");
    expect((await r.done).result).toBe("failed");
  });

  it(
    "ends with no connection after its first-connection time, and at once on cancel",
    { timeout: 120_000 },
    async () => {
      const quiet = await startRerun(sshConfig({ firstConnectMs: 1_000 }));
      await quiet.done;
      expect(quiet.sink.text(-3)).toMatch(/Ending the SSH wait: no connection/);
      const canceled = await startRerun(sshConfig({}));
      const t0 = Date.now();
      canceled.abort.abort();
      expect((await canceled.done).result).toBe("canceled");
      expect(Date.now() - t0).toBeLessThan(30_000);
    },
  );

  it(
    "fails Enable SSH saying where to add a key when the user has none",
    { timeout: 60_000 },
    async () => {
      const spec = makeTask({
        steps: [run("echo hi")],
        ssh: { enabled: true, authorizedKeys: [] },
      });
      const sink = new MemorySink();
      const outcome = await runAgent({
        config: agentConfig(server, server.addTask(spec), sshConfig({})),
        logger,
        signal: new AbortController().signal,
        docker,
        sink,
      });
      expect(outcome.result).toBe("failed");
      expect(sink.text(-2, "stderr")).toBe(`${NO_KEYS_MESSAGE}\n`);
      // A project that turned SSH reruns off: refused when the job starts, saying why.
      const off = makeTask({
        steps: [run("echo hi")],
        ssh: {
          enabled: true,
          authorizedKeys: [user.publicKey],
          refused: "SSH reruns are off here",
        },
      });
      const offSink = new MemorySink();
      const refused = await runAgent({
        config: agentConfig(server, server.addTask(off), sshConfig({})),
        logger,
        signal: new AbortController().signal,
        docker,
        sink: offSink,
      });
      expect(refused.result).toBe("failed");
      expect(offSink.text(-2, "stderr")).toBe("SSH reruns are off here\n");
    },
  );
});
