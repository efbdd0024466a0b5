/**
 * The main job as a newcomer runs it: the built CLI's `drover up --run examples/demo` in a fresh
 * data directory starts every service, runs the demo pipeline in Docker, streams each job's
 * output and exits with the workflow's result.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { drover, ensureBuilt, root } from "./drover-cli.js";

beforeAll(ensureBuilt, 300_000);

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
