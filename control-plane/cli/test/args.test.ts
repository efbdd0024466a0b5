/** Every `drover` command: bad command lines print the usage and exit 2, never a stack trace. */
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { commands, runCli } from "../src/index.js";

/** A valid start of each command line (command and subcommand with its required arguments). */
const VALID: Record<string, string[][]> = {
  config: [["validate"], ["process"]],
  up: [[]],
  run: [[]],
  pipeline: [
    ["trigger", "gh/acme/app"],
    ["list", "gh/acme/app"],
    ["show", "some-id"],
  ],
  workflow: [["rerun", "some-id"]],
  project: [["add", "gh/acme/app", "file:///tmp/none"]],
  token: [["create"]],
  nomad: [["render"], ["jobs"]],
  vm: [["list"], ["destroy", "some-id"]],
  "network-rules": [[]],
  doctor: [[]],
  runner: [[]],
  tls: [
    ["ca", "create"],
    ["cert", "create"],
  ],
};

/** Command lines with a missing or extra positional, a bad value or a missing subcommand. */
const BAD: Array<[string[], RegExp]> = [
  [["config"], /missing subcommand/],
  [["config", "frob"], /unknown subcommand 'frob'/],
  [["config", "validate", "a.yml", "b.yml"], /unexpected argument 'b.yml'/],
  [["config", "process", "--branch", "a", "--tag", "b"], /cannot be combined/],
  [["config", "process", "--param", "x"], /--param 'x' is not key=value/],
  [["up", "--port", "http"], /--port must be an integer/],
  [["up", "--output-port", "70000"], /--output-port must be an integer up to 65535/],
  [["up", "extra"], /unexpected argument 'extra'/],
  [["run", "--param", "=1"], /--param '=1' is not key=value/],
  [["run", "a", "b"], /unexpected argument 'b'/],
  [["pipeline"], /missing subcommand/],
  [["pipeline", "trigger"], /missing <vcs\/org\/repo>/],
  [["pipeline", "trigger", "gh/a/b", "--branch"], /--branch <value>' argument missing/],
  [["pipeline", "trigger", "gh/a/b", "--branch", "--follow"], /argument is ambiguous/],
  [["pipeline", "trigger", "gh/a/b", "--param", "nokey"], /not key=value/],
  [["pipeline", "trigger", "gh/a/b", "--follow=yes"], /does not take an argument/],
  [["pipeline", "list"], /missing <vcs\/org\/repo>/],
  [["pipeline", "show"], /missing <pipeline-id>/],
  [["workflow", "rerun"], /missing <workflow-id>/],
  [["workflow", "rerun", "id", "--ssh", "--from-failed"], /cannot be combined/],
  [["project", "add", "gh/a/b"], /missing <repository-url>/],
  [["project", "remove", "gh/a/b"], /unknown subcommand 'remove'/],
  [["token"], /missing subcommand/],
  [["token", "create", "--role", "owner"], /--role must be member or admin/],
  [["token", "create", "extra"], /unexpected argument 'extra'/],
  [["nomad", "render", "a", "b"], /unexpected argument 'b'/],
  [["nomad", "jobs", "--json", "x"], /unexpected argument 'x'/],
  [["vm"], /missing subcommand/],
  [["vm", "destroy"], /missing <machine-id>/],
  [["vm", "list", "--all"], /Unknown option '--all'/],
  [["network-rules", "--format", "csv"], /--format must be one of/],
  [["network-rules", "--role", "router"], /--role must be one of/],
  [["network-rules", "extra"], /unexpected argument 'extra'/],
  [["doctor", "--as", "router"], /--as must be one of/],
  [["doctor", "--peer", "users=10.0.0.1"], /--peer needs --as ROLE/],
  [["runner", "extra"], /unexpected argument 'extra'/],
  [["tls"], /missing subcommand/],
  [["tls", "ca"], /missing subcommand/],
  [["tls", "key", "create"], /unknown subcommand 'key'/],
  [["tls", "ca", "create", "--days", "ten"], /--days must be an integer/],
  [["tls", "cert", "create", "--server", "--client"], /give one of --server or --client/],
  [["tls", "cert", "create", "--client", "--dns", "x"], /--dns and --ip name servers only/],
  [["doctor", "extra"], /unexpected argument 'extra'/],
];

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

function expectUsageError(): void {
  expect(err).toMatch(/usage:/);
  expect(err).not.toMatch(/TypeError|ERR_PARSE_ARGS|\n\s+at /);
}

describe("drover command lines", () => {
  it("covers every command", () => {
    expect(Object.keys(VALID).sort()).toEqual(Object.keys(commands).sort());
  });

  for (const [name, starts] of Object.entries(VALID)) {
    for (const start of starts) {
      const line = [name, ...start].join(" ");
      it(`${line} --no-such-option: usage, exit 2`, async () => {
        expect(await runCli([name, ...start, "--no-such-option"])).toBe(2);
        expect(err).toContain("Unknown option '--no-such-option'");
        expectUsageError();
      });
      it(`${line} -Z: usage, exit 2`, async () => {
        expect(await runCli([name, ...start, "-Z"])).toBe(2);
        expect(err).toContain("Unknown option '-Z'");
        expectUsageError();
      });
      it(`${line} --help: usage on stdout, exit 0`, async () => {
        expect(await runCli([name, ...start, "--help"])).toBe(0);
        expect(out).toMatch(/usage:/);
        expect(err).toBe("");
      });
    }
  }

  for (const [argv, message] of BAD) {
    it(`${argv.join(" ")}: usage, exit 2`, async () => {
      expect(await runCli(argv)).toBe(2);
      expect(err).toMatch(message);
      expectUsageError();
    });
  }
});

async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

describe("an unreachable server", () => {
  it("is one sentence and exit 1 for API commands and drover run", async () => {
    const url = `http://127.0.0.1:${await closedPort()}`;
    vi.stubEnv("DROVER_URL", url);
    vi.stubEnv("DROVER_TOKEN", "drv_test");
    vi.stubEnv("DROVER_CACHE_DIR", mkdtempSync(join(tmpdir(), "drover-cli-cache-")));
    const dir = mkdtempSync(join(tmpdir(), "drover-cli-run-"));
    mkdirSync(join(dir, ".circleci"));
    writeFileSync(join(dir, ".circleci", "config.yml"), "version: 2.1\n");
    for (const argv of [
      ["pipeline", "show", "some-id"],
      ["pipeline", "list", "gh/acme/app"],
      ["token", "create"],
      ["run", dir, "--no-output"],
    ]) {
      err = "";
      expect(await runCli(argv), argv.join(" ")).toBe(1);
      expect(err).toMatch(
        new RegExp(`^drover \\w+: cannot reach the Drover server at ${url}: .*ECONNREFUSED.*\\n$`),
      );
    }
  });

  it("without settings, says how to configure one", async () => {
    vi.stubEnv("DROVER_URL", "");
    vi.stubEnv("DROVER_TOKEN", "");
    const cwd = process.cwd();
    process.chdir(mkdtempSync(join(tmpdir(), "drover-cli-none-")));
    try {
      expect(await runCli(["pipeline", "show", "x"])).toBe(1);
    } finally {
      process.chdir(cwd);
    }
    expect(err).toMatch(/^drover pipeline: no Drover server configured/);
    expect(err).not.toMatch(/\n\s+at /);
  });
});

describe("the drover binary", () => {
  const bin = fileURLToPath(new URL("../bin/drover.js", import.meta.url));
  it("exits 2 with the usage and no stack trace on an unknown option", async () => {
    const res = await promisify(execFile)(process.execPath, [bin, "pipeline", "list", "--bogus"], {
      env: { ...process.env, DROVER_URL: "", DROVER_TOKEN: "" },
    }).then(
      () => ({ code: 0, stderr: "" }),
      (e: { code: number; stderr: string }) => e,
    );
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^drover pipeline list: Unknown option '--bogus'\n\nusage:/);
    expect(res.stderr).not.toMatch(/TypeError|\n\s+at /);
  });
});
