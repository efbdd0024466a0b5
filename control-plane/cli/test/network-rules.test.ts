/**
 * `drover network-rules`: the ports table from the environment, in every format; the nftables
 * output applied with `nft -f` in a network namespace the test makes, where it lets an allowed
 * port through and keeps a closed one closed (a real connection from a second namespace).
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { runCli } from "../src/index.js";

let out = "";
let err = "";
beforeEach(() => {
  out = "";
  err = "";
  vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => {
    out += String(c);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => {
    err += String(c);
    return true;
  });
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
});

const canNetns =
  spawnSync("nft", ["--version"]).status === 0 &&
  spawnSync("ip", ["netns", "list"]).status === 0 &&
  process.getuid?.() === 0;
if (!canNetns && process.env.CI === "true") {
  throw new Error("CI: nft, ip netns and root are required (apt-get install nftables)");
}

describe("drover network-rules", () => {
  it("prints the table from the configuration: ports follow the environment", async () => {
    vi.stubEnv("DROVER_PORT", "9443");
    vi.stubEnv("NOMAD_ADDR", "http://nomad.internal:4646");
    vi.stubEnv("VAULT_ADDR", "https://vault.internal:8200");
    vi.stubEnv("VAULT_TOKEN", "s.not-used-here");
    vi.stubEnv("REDIS_URL", "redis://redis.internal:6380");
    expect(await runCli(["network-rules"])).toBe(0);
    const rows = out.split("\n");
    expect(rows[0]).toMatch(/^FROM\s+TO\s+PORTS\s+WHY$/);
    expect(out).toMatch(/^users\s+control-plane\s+tcp\/80,443,9443\s/m);
    expect(out).toMatch(/^nomad-clients\s+output-processor\s+tcp\/8585\s/m);
    expect(out).toMatch(/^nomad-clients\s+nomad-servers\s+tcp\/4647\s/m);
    expect(out).toMatch(/^users\s+nomad-clients\s+tcp\/64535-65535\s/m);
    expect(out).toMatch(/^users\s+machines\s+tcp\/54782\s/m);
    expect(out).toMatch(/^control-plane\s+vault\s+tcp\/8200\s/m);
    expect(out).toMatch(/^output-processor\s+redis\s+tcp\/6380\s/m);
    expect(out).not.toMatch(/^nomad-clients\s+nomad-clients/m);
    expect(out).not.toMatch(/^machines\s+machines/m);
    // A bad configuration is named, not turned into rules.
    vi.stubEnv("VAULT_TOKEN", "");
    out = "";
    expect(await runCli(["network-rules"])).toBe(1);
    expect(err).toMatch(/VAULT_TOKEN/);
  });

  it("prints AWS security groups, GCP firewall rules and Nomad client settings", async () => {
    expect(await runCli(["network-rules", "--format", "aws-sg"])).toBe(0);
    const aws = JSON.parse(out) as {
      SecurityGroups: Array<{ GroupName: string; IpPermissions: Array<Record<string, unknown>> }>;
    };
    const machines = aws.SecurityGroups.find((g) => g.GroupName === "drover-machines")!;
    expect(machines.IpPermissions).toContainEqual(
      expect.objectContaining({
        IpProtocol: "tcp",
        FromPort: 22,
        ToPort: 22,
        UserIdGroupPairs: [expect.objectContaining({ GroupName: "drover-nomad-clients" })],
      }),
    );
    out = "";
    expect(await runCli(["network-rules", "--format", "gcp-firewall", "--network", "ci"])).toBe(0);
    const gcp = JSON.parse(out) as Array<{ name: string; network: string; targetTags: string[] }>;
    for (const r of gcp) {
      expect(r.name).toMatch(/^[a-z]([-a-z0-9]{0,61}[a-z0-9])?$/);
      expect(r.network).toBe("global/networks/ci");
    }
    out = "";
    expect(await runCli(["network-rules", "--format", "nomad-hcl"])).toBe(0);
    expect(out).toMatch(/max_dynamic_port = 65535/);
    expect(await runCli(["network-rules", "--format", "iptables"])).toBe(2);
    expect(err).toMatch(/--format must be one of table, aws-sg, gcp-firewall, nftables, nomad-hcl/);
    expect(await runCli(["network-rules", "--cidr", "machines=10.0.0.0/99x"])).toBe(2);
  });

  it.skipIf(!canNetns)(
    "applies the nftables rules with nft -f in a namespace: allowed ports open, the rest closed",
    { timeout: 60_000 },
    async () => {
      const id = randomBytes(3).toString("hex");
      const host = `drv-h-${id}`;
      const peer = `drv-p-${id}`;
      const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: "pipe" });
      const listeners: Array<ReturnType<typeof spawn>> = [];
      try {
        sh("ip", "netns", "add", host);
        sh("ip", "netns", "add", peer);
        sh("ip", "link", "add", `vh${id}`, "type", "veth", "peer", "name", `vp${id}`);
        sh("ip", "link", "set", `vh${id}`, "netns", host);
        sh("ip", "link", "set", `vp${id}`, "netns", peer);
        sh("ip", "-n", host, "addr", "add", "10.77.0.1/24", "dev", `vh${id}`);
        sh("ip", "-n", peer, "addr", "add", "10.77.0.2/24", "dev", `vp${id}`);
        for (const ns of [host, peer]) {
          sh("ip", "-n", ns, "link", "set", "lo", "up");
          sh("ip", "-n", ns, "link", "set", ns === host ? `vh${id}` : `vp${id}`, "up");
        }
        // The peer is a Nomad client; the host is a machine.
        expect(
          await runCli([
            "network-rules",
            "--format",
            "nftables",
            "--role",
            "machines",
            "--cidr",
            "nomad-clients=10.77.0.2",
            "--cidr",
            "vm-service=10.88.0.0/16",
          ]),
        ).toBe(0);
        const file = join(mkdtempSync(join(tmpdir(), "drover-nft-")), "rules.nft");
        writeFileSync(file, out);
        sh("ip", "netns", "exec", host, "nft", "-f", file);
        sh("ip", "netns", "exec", host, "nft", "-f", file); // applying twice is fine
        const listed = sh("ip", "netns", "exec", host, "nft", "list", "ruleset").toString();
        expect(listed).toMatch(/policy drop/);
        expect(listed).toMatch(/elements = \{ 10\.77\.0\.2 \}/);
        // Listeners on an allowed port (2376 from Nomad clients) and a closed one (8585).
        for (const port of [2376, 8585]) {
          const l = spawn("ip", [
            "netns",
            "exec",
            host,
            process.execPath,
            "-e",
            `require("net").createServer((s) => s.end("hi")).listen(${port}, () => console.log("up"))`,
          ]);
          listeners.push(l);
          await new Promise<void>((resolve) => l.stdout!.once("data", () => resolve()));
        }
        const connect = (port: number) =>
          spawnSync(
            "ip",
            [
              "netns",
              "exec",
              peer,
              process.execPath,
              "-e",
              `const s = require("net").connect(${port}, "10.77.0.1"); s.setTimeout(1500, () => process.exit(3)); s.on("data", () => process.exit(0)); s.on("error", () => process.exit(4));`,
            ],
            { timeout: 10_000 },
          ).status;
        expect(connect(2376)).toBe(0);
        expect(connect(8585)).toBe(3); // dropped: no answer at all
      } finally {
        for (const l of listeners) l.kill("SIGKILL");
        spawnSync("ip", ["netns", "del", host]);
        spawnSync("ip", ["netns", "del", peer]);
      }
    },
  );
});
