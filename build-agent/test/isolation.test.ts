import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { existsSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  CHAIN_FORWARD,
  CHAIN_INPUT,
  JOB_BRIDGE_PREFIX,
  JobNetRules,
  chainRules,
  createJobNetwork,
  removeNetwork,
  runCommand,
  sweepOrphans,
  type CommandRunner,
} from "@drover/build-agent";
import { TaskServer } from "./helpers/task-server.js";
import { containersOf, docker, makeTask, requireDocker, run, runTask } from "./helpers/fixtures.js";

const server = new TaskServer();
beforeAll(async () => {
  await requireDocker();
  await server.start();
});
afterAll(() => server.stop());

/** A perl one-liner serving `text` on `port` to every connection. */
function serve(port: number, text: string): string[] {
  const code =
    `$|=1; $s=IO::Socket::INET->new(LocalPort=>${port},Listen=>5,ReuseAddr=>1) or die $!; ` +
    `while($c=$s->accept){print $c "${text}\\n"; close $c}`;
  return ["perl", "-MIO::Socket::INET", "-e", code];
}

/** Bash that prints `<addr> reached: <reply>` or `<addr> blocked` for each of `addrs` (`$gw`: the job's gateway). */
function probe(port: number, addrs: string[]): string {
  return [
    "gw=$(awk '$2==\"00000000\"{print $3}' /proc/net/route)",
    "gw=$(printf '%d.%d.%d.%d' 0x${gw:6:2} 0x${gw:4:2} 0x${gw:2:2} 0x${gw:0:2})",
    `for a in ${addrs.join(" ")}; do`,
    `  if out=$(timeout 5 bash -c "exec 3<>/dev/tcp/$a/${port} && cat <&3" 2>&1); then echo "$a reached: $out"; else echo "$a blocked"; fi`,
    "done",
  ].join("\n");
}

function hostAddress(): string {
  const addr = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && i.family === "IPv4" && !i.internal && !/^(172\.|169\.254\.)/.test(i.address));
  if (!addr) throw new Error("this host has no external IPv4 address to test with");
  return addr.address;
}

describe("job networks", () => {
  it("puts each job on its own network: a concurrent job cannot reach another's service", async () => {
    const a = makeTask({
      executor: {
        type: "docker",
        images: [
          { image: "cimg/base:stable", environment: {} },
          {
            image: "drover/ci-base",
            name: "svc",
            entrypoint: serve(9999, "hello from A"),
            environment: {},
          },
        ],
      },
      steps: [
        run(
          "for i in $(seq 50); do (exec 3<>/dev/tcp/svc/9999 && cat <&3) && break; sleep 0.1; done",
        ),
        run("sleep 300"),
      ],
    });
    const abortA = new AbortController();
    const runA = runTask(server, a, {}, abortA.signal);
    try {
      await vi.waitFor(
        () =>
          expect(server.tasks.get(a.taskId)?.events).toContainEqual(
            expect.objectContaining({ type: "step_started", step: 1 }),
          ),
        { timeout: 30_000, interval: 100 },
      );
      const [primary] = await containersOf(a.taskId).then((cs) =>
        cs.filter((c) => c.Labels["drover.role"] === "primary"),
      );
      if (!primary) throw new Error("job A has no primary container");
      const info = await docker.getContainer(primary.Id).inspect();
      const nets = Object.entries(info.NetworkSettings.Networks);
      expect(nets).toHaveLength(1);
      const [netName, endpoint] = nets[0] ?? ["", { IPAddress: "" }];
      expect(netName).not.toBe("bridge");
      expect(info.HostConfig.NetworkMode).toBe(netName);
      const network = await docker.getNetwork(netName).inspect();
      expect(network.Labels?.["drover.task"]).toBe(a.taskId);
      expect(info.HostConfig.CapDrop).toContain("NET_RAW");
      expect(info.HostConfig.SecurityOpt).toContain("no-new-privileges:true");

      const b = makeTask({ steps: [run(probe(9999, [endpoint.IPAddress]))] });
      const rb = await runTask(server, b);
      expect(rb.outcome.result).toBe("success");
      expect(rb.sink.text(0)).toBe(`${endpoint.IPAddress} blocked\n`);
    } finally {
      abortA.abort();
    }
    const ra = await runA;
    expect(ra.outcome.result).toBe("canceled");
    expect(ra.sink.text(0)).toBe("hello from A\n");
    expect(await containersOf(a.taskId)).toEqual([]);
    expect(await docker.listNetworks({ filters: { label: [`drover.task=${a.taskId}`] } })).toEqual(
      [],
    );
  });

  it("keeps jobs away from the host's services", async () => {
    const listener = net.createServer((s) => s.end("host service\n"));
    await new Promise<void>((r) => listener.listen(0, "0.0.0.0", r));
    const port = (listener.address() as net.AddressInfo).port;
    const host = hostAddress();
    try {
      // The listener answers on the host's address (and on every bridge gateway).
      const reply = await new Promise<string>((resolve, reject) => {
        const c = net.connect(port, host);
        let text = "";
        c.on("data", (d) => (text += d.toString()));
        c.on("end", () => resolve(text));
        c.on("error", reject);
      });
      expect(reply).toBe("host service\n");
      const spec = makeTask({ steps: [run(probe(port, ["$gw", host]))] });
      const { outcome, sink } = await runTask(server, spec);
      expect(outcome.result).toBe("success");
      expect(sink.text(0)).toMatch(
        new RegExp(`^[0-9.]+ blocked\\n${host.replace(/\./g, "\\.")} blocked\\n$`),
      );
    } finally {
      listener.close();
    }
  });

  it("drops NET_RAW and sets no-new-privileges in job containers", async () => {
    const spec = makeTask({
      steps: [
        run("grep NoNewPrivs: /proc/self/status"),
        run(
          `perl -e 'socket(S, 2, 3, 1) or die qq(raw socket: $!\\n); print qq(raw socket opened\\n)' 2>&1 || true`,
        ),
        run("unshare -U true && echo userns-ok"),
      ],
    });
    const { outcome, sink } = await runTask(server, spec);
    expect(outcome.result).toBe("success");
    expect(sink.text(0)).toMatch(/^NoNewPrivs:\s+1\n$/);
    expect(sink.text(1)).toBe("raw socket: Operation not permitted\n");
    expect(sink.text(2)).toBe("userns-ok\n");
  });
});

/** Runs `script` in a throwaway container on `network`; returns its output. */
async function plainContainer(network: string, script: string): Promise<string> {
  const c = await docker.createContainer({
    Image: "drover/ci-base:latest",
    Cmd: ["bash", "-c", script],
    Labels: { "drover.test": "isolation" },
    HostConfig: { NetworkMode: network },
  });
  try {
    await c.start();
    await c.wait();
    const logs = await c.logs({ stdout: true, stderr: true });
    return demux(logs);
  } finally {
    await c.remove({ force: true });
  }
}

/** Docker's multiplexed log frames to text. */
function demux(buf: Buffer): string {
  let out = "";
  for (let i = 0; i + 8 <= buf.length;) {
    const size = buf.readUInt32BE(i + 4);
    out += buf.subarray(i + 8, i + 8 + size).toString("utf8");
    i += 8 + size;
  }
  return out;
}

/**
 * A fake cloud metadata service: a network namespace of our own holding 169.254.169.254 and
 * 169.254.170.2 (the ECS task endpoint), routed from the host over a veth pair, answering on :80.
 */
class FakeMetadata {
  readonly id = randomBytes(3).toString("hex");
  readonly ns = `drover-test-md-${this.id}`;
  private readonly hostIf = `dvtm${this.id}h`;
  private readonly nsIf = `dvtm${this.id}n`;
  static readonly ADDRESSES = ["169.254.169.254", "169.254.170.2"];
  private server: ChildProcess | undefined;

  async start(): Promise<void> {
    const ip = (...args: string[]): void => void execFileSync("ip", args);
    const inNs = (...args: string[]): void =>
      void execFileSync("ip", ["netns", "exec", this.ns, "ip", ...args]);
    ip("netns", "add", this.ns);
    ip("link", "add", this.hostIf, "type", "veth", "peer", "name", this.nsIf);
    ip("link", "set", this.nsIf, "netns", this.ns);
    ip("addr", "add", "169.254.169.1/32", "dev", this.hostIf);
    ip("link", "set", this.hostIf, "up");
    inNs("link", "set", "lo", "up");
    inNs("link", "set", this.nsIf, "up");
    for (const a of FakeMetadata.ADDRESSES) {
      inNs("addr", "add", `${a}/32`, "dev", this.nsIf);
      ip("route", "add", `${a}/32`, "dev", this.hostIf);
    }
    inNs("route", "add", "default", "dev", this.nsIf);
    this.server = spawn(
      "ip",
      [
        "netns",
        "exec",
        this.ns,
        process.execPath,
        "-e",
        "require('net').createServer((s)=>s.end('metadata\\n')).listen(80,()=>console.log('up'))",
      ],
      { stdio: ["ignore", "pipe", "inherit"] },
    );
    await new Promise<void>((resolve, reject) => {
      this.server?.stdout?.once("data", () => resolve());
      this.server?.once("exit", (code) => reject(new Error(`metadata server exited ${code}`)));
    });
  }

  stop(): void {
    if (this.server?.pid) process.kill(this.server.pid);
    for (const args of [
      ["link", "del", this.hostIf],
      ["netns", "del", this.ns],
    ]) {
      try {
        execFileSync("ip", args, { stdio: "ignore" });
      } catch {
        // already gone
      }
    }
  }
}

describe("link-local addresses", () => {
  const md = new FakeMetadata();
  beforeAll(() => md.start());
  afterAll(() => md.stop());

  it("answer a plain container (the control for the tests below)", async () => {
    expect(await plainContainer("bridge", probe(80, FakeMetadata.ADDRESSES))).toBe(
      FakeMetadata.ADDRESSES.map((a) => `${a} reached: metadata\n`).join(""),
    );
  });

  it("are rejected by the host rules for every job network (no in-job route needed)", async () => {
    await new JobNetRules().install();
    const network = await createJobNetwork(docker, `test-${randomUUID()}`, {
      "drover.test": "isolation",
    });
    try {
      expect(network.bridge.startsWith(JOB_BRIDGE_PREFIX)).toBe(true);
      // A plain container on the job network: only the host's firewall stands in the way.
      expect(await plainContainer(network.name, probe(80, FakeMetadata.ADDRESSES))).toBe(
        FakeMetadata.ADDRESSES.map((a) => `${a} blocked\n`).join(""),
      );
    } finally {
      await removeNetwork(docker, network.id);
    }
  });

  it("are unreachable from a job, across 169.254.0.0/16", async () => {
    const spec = makeTask({ steps: [run(probe(80, FakeMetadata.ADDRESSES))] });
    const { outcome, sink } = await runTask(server, spec);
    expect(outcome.result).toBe("success");
    expect(sink.text(0)).toBe(FakeMetadata.ADDRESSES.map((a) => `${a} blocked\n`).join(""));
  });
});

describe("job network rules", () => {
  /** Runs iptables in a network namespace of the test's own, away from the host's rules. */
  function inNamespace(ns: string): CommandRunner {
    return (file, args, input) => runCommand("ip", ["netns", "exec", ns, file, ...args], input);
  }
  const ns = `drover-test-rules-${randomBytes(3).toString("hex")}`;
  beforeAll(() => void execFileSync("ip", ["netns", "add", ns]));
  afterAll(() => void execFileSync("ip", ["netns", "del", ns]));

  it("install once however often they are installed, and remove completely", async () => {
    const run = inNamespace(ns);
    const rules = new JobNetRules({ run, lockFile: `/tmp/${ns}.lock` });
    const dump = async (): Promise<string> =>
      (await run("iptables", ["-S"])) + (await run("ip6tables", ["-S"]));
    await rules.install();
    const once = await dump();
    await Promise.all([rules.install(), rules.install()]);
    expect(await dump()).toBe(once);
    const jumps = once.split("\n").filter((l) => l.includes(`-i ${JOB_BRIDGE_PREFIX}+ -j`));
    expect(jumps.sort()).toEqual(
      [
        `-A FORWARD -i ${JOB_BRIDGE_PREFIX}+ -j ${CHAIN_FORWARD}`,
        `-A FORWARD -i ${JOB_BRIDGE_PREFIX}+ -j ${CHAIN_FORWARD}`,
        `-A INPUT -i ${JOB_BRIDGE_PREFIX}+ -j ${CHAIN_INPUT}`,
        `-A INPUT -i ${JOB_BRIDGE_PREFIX}+ -j ${CHAIN_INPUT}`,
      ].sort(),
    );
    expect(once).toContain(`-A ${CHAIN_FORWARD} -d 169.254.0.0/16 -j REJECT`);
    expect(once).toContain(`-A ${CHAIN_FORWARD} -d fd00:ec2::254/128 -j REJECT`);
    expect(once).toContain(`-A ${CHAIN_FORWARD} -d fe80::/10 -j REJECT`);
    await rules.remove();
    await rules.remove();
    expect(await dump()).not.toContain("DROVER");
  });

  it("are written as one iptables-restore transaction per family", () => {
    expect(chainRules("ipv4").split("\n")).toEqual([
      "*filter",
      `:${CHAIN_INPUT} - [0:0]`,
      `:${CHAIN_FORWARD} - [0:0]`,
      `-A ${CHAIN_INPUT} -m conntrack --ctstate RELATED,ESTABLISHED -j RETURN`,
      `-A ${CHAIN_INPUT} -p udp --dport 53 -j RETURN`,
      `-A ${CHAIN_INPUT} -p tcp --dport 53 -j RETURN`,
      `-A ${CHAIN_INPUT} -j REJECT --reject-with icmp-admin-prohibited`,
      `-A ${CHAIN_FORWARD} -d 169.254.0.0/16 -j REJECT --reject-with icmp-admin-prohibited`,
      "COMMIT",
      "",
    ]);
  });

  it("sweeps the network of a dead agent and keeps a live agent's", async () => {
    const { processStart } = await import("../src/executor/docker/process-start.js");
    const make = (start: string) => {
      const task = `test-${randomUUID()}`;
      return createJobNetwork(docker, task, {
        "drover.task": task,
        "drover.agent.pid": String(process.pid),
        "drover.agent.host": os.hostname(),
        "drover.agent.start": start,
      }).then((n) => ({ task, n }));
    };
    const reused = await make("1");
    const live = await make(processStart("self") ?? "");
    const networksOf = (task: string) =>
      docker.listNetworks({ filters: { label: [`drover.task=${task}`] } });
    try {
      expect(await sweepOrphans(docker, { host: os.hostname() })).toContain(reused.task);
      expect(await networksOf(reused.task)).toEqual([]);
      expect(await networksOf(live.task)).toHaveLength(1);
    } finally {
      await removeNetwork(docker, live.n.id);
      await removeNetwork(docker, reused.n.id);
    }
  });
});

describe("DROVER_NET_RULES", () => {
  const AGENT = fileURLToPath(new URL("../dist/main.js", import.meta.url));

  /** Runs the agent where iptables cannot be found; resolves with its exit code and stderr. */
  function agentWithoutIptables(mode: string, token: string) {
    if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: run npx tsc --build first`);
    const child = spawn(process.execPath, [AGENT], {
      env: {
        PATH: "/nonexistent",
        DROVER_TASK_TOKEN: token,
        DROVER_URL: server.url,
        DROVER_OUTPUT: "stdout",
        DROVER_NET_RULES: mode,
        DROVER_LOG_LEVEL: "warn",
      },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    return new Promise<{ code: number | null; stderr: string }>((resolve) =>
      child.once("exit", (code) => resolve({ code, stderr })),
    );
  }

  it("on: refuses to start (exit 2, task not claimed) when the rules cannot be installed", async () => {
    const spec = makeTask({ steps: [run("true")] });
    const token = server.addTask(spec);
    const { code, stderr } = await agentWithoutIptables("on", token);
    expect(code).toBe(2);
    expect(stderr).toContain(
      "DROVER_NET_RULES=on, but the job network firewall rules cannot be installed",
    );
    expect(stderr).toContain("iptables cannot run");
    expect(server.tokens.has(token)).toBe(true);
  });

  it("auto: warns with the reason and runs the task", async () => {
    const spec = makeTask({ steps: [run("true")] });
    const { code, stderr } = await agentWithoutIptables("auto", server.addTask(spec));
    expect(code).toBe(0);
    expect(stderr).toContain("jobs are not firewalled from this host's services");
    expect(stderr).toContain("iptables cannot run");
  });
});
