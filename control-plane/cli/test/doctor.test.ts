/**
 * `drover doctor` against a running `drover up --tls` (the built CLI in a child process): each
 * service answers, its dependencies are reachable, TLS is verified against the saved CA; a
 * stranger CA or a stopped server is reported as a failure with exit code 1.
 * Needs `npm run build` first.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, beforeEach, expect, it, vi } from "vitest";
import { createCa } from "@drover/tls";
import { runCli } from "../src/index.js";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAIN = join(ROOT, "control-plane/cli/dist/main.js");

let dir: string;
let child: ChildProcess;
let out = "";
const cwd = process.cwd();

beforeAll(async () => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
  dir = mkdtempSync(join(tmpdir(), "drover-doctor-"));
  child = spawn(process.execPath, [MAIN, "up", "--tls", "--port", "0", "--output-port", "0"], {
    cwd: dir,
    env: { ...process.env, DROVER_VM: "off", DROVER_LOG_LEVEL: "warn", DROVER_ARTIFACTS_PORT: "0" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  let banner = "";
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on("data", (c: Buffer) => {
      banner += c.toString();
      if (banner.includes("TLS: certificates are signed by")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`drover up exited ${code}: ${banner}`)));
  });
}, 120_000);

afterAll(async () => {
  if (child.exitCode === null) {
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(() => {
  out = "";
  vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => {
    out += String(c);
    return true;
  });
  process.chdir(dir);
});
afterEach(() => {
  vi.restoreAllMocks();
  vi.unstubAllEnvs();
  process.chdir(cwd);
});

it("reports every service healthy and ready, its dependencies, version and verified TLS", async () => {
  expect(await runCli(["doctor", "--json"])).toBe(0);
  const report = JSON.parse(out) as {
    ok: boolean;
    services: Array<{
      service: string;
      url: string;
      version: string | null;
      tls: { enabled: boolean; ok: boolean; daysLeft?: number; detail: string };
      dependencies: Record<string, { ok: boolean }>;
    }>;
  };
  expect(report.ok).toBe(true);
  expect(report.services.map((s) => s.service)).toEqual(["control plane", "output-processor"]);
  const [cp, output] = report.services;
  expect(cp?.url).toMatch(/^https:/);
  expect(cp?.version).toMatch(/^\d+\.\d+\.\d+/);
  expect(cp?.tls).toMatchObject({ enabled: true, ok: true });
  expect(cp?.tls.daysLeft).toBeGreaterThan(300);
  expect(Object.keys(cp?.dependencies ?? {})).toEqual(
    expect.arrayContaining(["database", "outputProcessor"]),
  );
  expect(output?.tls.ok).toBe(true);
  expect(Object.values(output?.dependencies ?? {}).every((d) => d.ok)).toBe(true);

  out = "";
  expect(await runCli(["doctor"])).toBe(0);
  expect(out).toMatch(/tls +verified \(server\.drover, issued by Drover local CA, \d+ days left\)/);
  expect(out).toMatch(/all well/);
});

it("reports a CA that did not sign the certificates, naming the problem", async () => {
  const stranger = join(dir, "stranger.pem");
  writeFileSync(stranger, (await createCa({ commonName: "stranger" })).cert);
  vi.stubEnv("DROVER_TLS_CA", stranger);
  expect(await runCli(["doctor"])).toBe(1);
  expect(out).toMatch(
    /tls +FAIL \(the certificate of control plane at https:.* is not signed by a trusted CA/,
  );
  expect(out).toMatch(/something is not well/);
});
