/**
 * The main job as a newcomer runs it: the built CLI's `drover up --run examples/demo` in a fresh
 * data directory starts every service, runs the demo pipeline in Docker, streams each job's
 * output and exits with the workflow's result.
 */
import { execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { beforeAll, describe, expect, it } from "vitest";

const root = fileURLToPath(new URL("../..", import.meta.url));
const cli = join(root, "control-plane", "cli", "dist", "main.js");

beforeAll(() => {
  if (!existsSync(cli) || !existsSync(join(root, "build-agent", "dist", "main.js"))) {
    execFileSync(
      process.execPath,
      [join(root, "node_modules", "typescript", "bin", "tsc"), "--build"],
      {
        cwd: root,
        stdio: "inherit",
      },
    );
  }
}, 300_000);

function drover(
  args: string[],
  cwd: string,
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd,
      env: { ...process.env, DROVER_URL: "", DROVER_TOKEN: "", NOMAD_ADDR: "", DATABASE_URL: "" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 240_000);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

describe("drover up --run examples/demo", () => {
  it("finishes green with every job and its live output", { timeout: 300_000 }, async () => {
    const cwd = mkdtempSync(join(tmpdir(), "drover-main-job-"));
    const { code, out, err } = await drover(
      ["up", "--run", join(root, "examples", "demo"), "--port", "0", "--output-port", "0"],
      cwd,
    );
    const context = `stdout:\n${out}\nstderr:\n${err}`;
    expect(code, context).toBe(0);
    expect(out).toMatch(/^Drover is up at http:\/\/127\.0\.0\.1:\d+/m);
    expect(out).toMatch(/Admin token \(shown once/);
    // Every job of the workflow, in its final state.
    for (const job of ["build", "lint", "test", "report"]) {
      expect(out, context).toMatch(new RegExp(`^main/${job} #\\d+: success$`, "m"));
    }
    expect(out).toMatch(/^workflow main: success$/m);
    // Live output: step headers and lines, prefixed by the job (and node) they came from.
    expect(out).toMatch(/^\[build\] ==> Install dependencies$/m);
    expect(out).toMatch(/^\[build\] built dist\/ at [0-9a-f]+$/m);
    expect(out).toMatch(/^\[lint\] ok {3}scripts\/build\.sh$/m);
    expect(out).toMatch(/^\[test 1\/2\] PASS test_\w+$/m);
    expect(out).toMatch(/^\[test 2\/2\] PASS test_\w+$/m);
    expect(out).toMatch(/^\[report\] demo report$/m);
    // Nothing is written into the example; the server's log went to the data directory.
    expect(existsSync(join(root, "examples", "demo", ".drover"))).toBe(false);
    expect(existsSync(join(root, "examples", "demo", "dist"))).toBe(false);
    const serverLog = readFileSync(join(cwd, ".drover", "server.log"), "utf8");
    expect(serverLog).toContain("output-processor listening");
  });
});
