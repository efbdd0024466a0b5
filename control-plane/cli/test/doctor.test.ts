/**
 * `drover doctor` against a running control plane with its output-processor, the machine's
 * PostgreSQL and Redis, and a vm-service that is not there; and the forbidden-path check from
 * network namespaces this test makes: from a Nomad client (where jobs run), the database host's
 * PostgreSQL port is found open until the table's nftables rules for the database apply, then
 * closed.
 */
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { loadConfig, startDrover, type Drover } from "@drover/control-plane";
import { runCli } from "../src/index.js";

let out = "";
beforeEach(() => {
  out = "";
  vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => {
    out += String(c);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation(() => true);
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

describe("drover doctor", () => {
  let drover: Drover;
  let dir: string;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "drover-doctor-"));
    const config = loadConfig({
      DROVER_PORT: "0",
      DROVER_OUTPUT_PORT: "0",
      DROVER_DATA_DIR: dir,
      DROVER_VM: "off",
      DROVER_ARTIFACTS_PORT: "0",
    });
    drover = await startDrover({
      config: config.server,
      secretStore: config.secretStore,
      nomad: null,
      vm: config.vm,
      logger: pino({ level: "silent" }),
      env: {},
    });
  }, 120_000);
  afterAll(async () => {
    await drover?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports each service with its version and TLS state, and each dependency", async () => {
    vi.stubEnv("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/test");
    vi.stubEnv("REDIS_URL", "redis://127.0.0.1:6379");
    const code = await runCli(["doctor", "--url", drover.cp.url]);
    expect(code, out).toBe(0);
    expect(out).toMatch(
      /^ok\s+control-plane\s+http:\/\/127\.0\.0\.1:\d+ answers, version \d+\.\d+\.\d+/m,
    );
    expect(out).toMatch(/^ok\s+control-plane tls\s+plaintext on loopback/m);
    expect(out).toMatch(/^ok\s+control-plane -> database\s+ok/m);
    // The output-processor is found through the control plane's /healthz.
    expect(out).toMatch(/^ok\s+output-processor\s+http:\/\/127\.0\.0\.1:\d+ answers, version/m);
    expect(out).toMatch(/^ok\s+database\s+PostgreSQL \d+/m);
    expect(out).toMatch(/^ok\s+redis\s+127\.0\.0\.1:6379 answers PING/m);
  }, 60_000);

  it("fails, naming the service, when one does not answer", async () => {
    const code = await runCli([
      "doctor",
      "--url",
      drover.cp.url,
      "--vm-url",
      "http://127.0.0.1:65000",
    ]);
    expect(code).toBe(1);
    expect(out).toMatch(/^FAIL\s+vm-service\s+http:\/\/127\.0\.0\.1:65000: ECONNREFUSED/m);
  }, 60_000);

  it("refuses a peer without a role of the table", async () => {
    await expect(
      runCli(["doctor", "--as", "nomad-clients", "--peer", "printers=10.0.0.1"]),
    ).resolves.toBe(2);
  });

  it.skipIf(!canNetns)(
    "from a Nomad client, finds the database's port open, and closed once the table's rules apply",
    { timeout: 300_000 },
    async () => {
      const id = randomBytes(3).toString("hex");
      const client = `drv-dc-${id}`;
      const peer = `drv-dp-${id}`;
      const sh = (...args: string[]) => execFileSync(args[0]!, args.slice(1), { stdio: "pipe" });
      const listeners: Array<ReturnType<typeof spawn>> = [];
      const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));
      const doctor = () =>
        spawnSync(
          "ip",
          [
            "netns",
            "exec",
            client,
            process.execPath,
            main,
            "doctor",
            "--as",
            "nomad-clients",
            "--peer",
            "database=10.78.0.2",
          ],
          { timeout: 120_000, env: { PATH: process.env.PATH, HOME: dir } },
        );
      try {
        sh("ip", "netns", "add", client);
        sh("ip", "netns", "add", peer);
        sh("ip", "link", "add", `vc${id}`, "type", "veth", "peer", "name", `vq${id}`);
        sh("ip", "link", "set", `vc${id}`, "netns", client);
        sh("ip", "link", "set", `vq${id}`, "netns", peer);
        sh("ip", "-n", client, "addr", "add", "10.78.0.1/24", "dev", `vc${id}`);
        sh("ip", "-n", peer, "addr", "add", "10.78.0.2/24", "dev", `vq${id}`);
        for (const [ns, dev] of [
          [client, `vc${id}`],
          [peer, `vq${id}`],
        ] as const) {
          sh("ip", "-n", ns, "link", "set", "lo", "up");
          sh("ip", "-n", ns, "link", "set", dev, "up");
        }
        // The peer is the database host: PostgreSQL's port, for the control plane and vm-service only.
        const l = spawn("ip", [
          "netns",
          "exec",
          peer,
          process.execPath,
          "-e",
          `require("net").createServer((s) => s.end()).listen(5432, () => console.log("up"))`,
        ]);
        listeners.push(l);
        await new Promise<void>((resolve) => l.stdout!.once("data", () => resolve()));

        const open = doctor();
        const before = open.stdout.toString();
        expect(open.status, before + open.stderr.toString()).toBe(1);
        expect(before).toMatch(
          /^FAIL\s+nomad-clients -> database 10\.78\.0\.2:5432\s+open, but the table allows it only from other roles/m,
        );

        // The table's rules for a Nomad client, users at 10.99.0.0/16: the other client is not one.
        expect(
          await runCli([
            "network-rules",
            "--format",
            "nftables",
            "--role",
            "nomad-clients",
            "--cidr",
            "users=10.99.0.0/16",
          ]),
        ).toBe(0);
        const file = join(dir, `rules-${id}.nft`);
        writeFileSync(file, out);
        sh("ip", "netns", "exec", peer, "nft", "-f", file);
        const closed = doctor().stdout.toString();
        expect(closed).toMatch(
          /^ok\s+nomad-clients -> database 10\.78\.0\.2:5432\s+closed, as the table says/m,
        );
        expect(closed).not.toMatch(/^FAIL\s+nomad-clients -> database/m);
      } finally {
        for (const x of listeners) x.kill("SIGKILL");
        spawnSync("ip", ["netns", "del", client]);
        spawnSync("ip", ["netns", "del", peer]);
      }
    },
  );
});
