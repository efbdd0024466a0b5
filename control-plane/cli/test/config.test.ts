import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { parse } from "yaml";
import { runCli } from "../src/index.js";

const dir = mkdtempSync(join(tmpdir(), "drover-cli-"));
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const o = vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => {
    out += String(c);
    return true;
  });
  const e = vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => {
    err += String(c);
    return true;
  });
  try {
    return { code: await runCli(["config", ...argv]), out, err };
  } finally {
    o.mockRestore();
    e.mockRestore();
  }
}

afterEach(() => vi.restoreAllMocks());

const GOOD = `version: 2.1
parameters:
  shards: {type: integer, default: 2}
  suite: {type: string, default: unit}
jobs:
  build:
    docker: [{image: cimg/base:stable}]
    steps: [checkout, {run: "make << pipeline.parameters.suite >> on << pipeline.git.branch >>"}]
  test:
    docker: [{image: cimg/base:stable}]
    parallelism: << pipeline.parameters.shards >>
    steps: [checkout]
workflows:
  ci:
    jobs:
      - build
      - test:
          requires: [build]
      - release:
          type: approval
          requires: [test]
          filters: {branches: {only: main}}
`;

describe("drover config", () => {
  it("validate: OK line and exit 0", async () => {
    const r = await cli("validate", file("good.yml", GOOD));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/good\.yml: OK \(version 2\.1, 1 workflow\(s\), 3 job\(s\) on main\)/);
  });

  it("validate: every error as file:line:col CODE message, exit 1", async () => {
    const p = file(
      "bad.yml",
      `version: 2.1\njobs:\n  a:\n    docker: [{image: x}]\n    steps: [nope]\nworkflows:\n  ci: {jobs: [a, b]}\n`,
    );
    const r = await cli("validate", p);
    expect(r.code).toBe(1);
    const lines = r.err.trim().split("\n");
    expect(lines).toContain(
      `${p}:5:13 DROVER_ERR_CONFIG_UNKNOWN_STEP unknown step 'nope': not a built-in step or a command under \`commands\``,
    );
    expect(lines).toContain(
      `${p}:7:18 DROVER_ERR_CONFIG_UNDEFINED_JOB job 'b' is not defined under \`jobs\``,
    );
  });

  it("validate: an unreadable file is an error too", async () => {
    const r = await cli("validate", join(dir, "missing.yml"));
    expect(r.code).toBe(1);
    expect(r.err).toContain("DROVER_ERR_CONFIG_READ");
  });

  it("process: prints the processed config as YAML", async () => {
    const r = await cli("process", file("good2.yml", GOOD), "--branch", "dev");
    expect(r.code).toBe(0);
    const doc = parse(r.out) as {
      version: number;
      jobs: Record<string, { steps: unknown[]; parallelism?: number }>;
      workflows: Record<string, unknown>;
    };
    expect(doc.version).toBe(2);
    expect(doc.jobs.build!.steps).toEqual(["checkout", { run: { command: "make unit on dev" } }]);
    expect(doc.jobs.test!.parallelism).toBe(2);
    expect(doc.workflows.ci).toEqual({
      jobs: [
        "build",
        { test: { requires: ["build"] } },
        {
          release: {
            requires: ["test"],
            filters: { branches: { only: "main" } },
            type: "approval",
          },
        },
      ],
    });
  });

  it("process --plan --json: the documented shape, with --param typed by the declaration", async () => {
    const p = file("good3.yml", GOOD);
    const r = await cli(
      "process",
      p,
      "--plan",
      "--json",
      "--param",
      "shards=4",
      "--param",
      "suite=42",
    );
    expect(r.code).toBe(0);
    expect(JSON.parse(r.out)).toEqual({
      workflows: [
        {
          name: "ci",
          jobs: [
            { name: "build", requires: [], type: "build", parallelism: 1 },
            { name: "test", requires: ["build"], type: "build", parallelism: 4 },
            { name: "release", requires: ["test"], type: "approval", parallelism: 1 },
          ],
        },
      ],
      errors: [],
    });
    // A tag pipeline runs no job here (no tag filters).
    const tag = JSON.parse((await cli("process", p, "--json", "--tag", "v1")).out) as {
      workflows: Array<{ jobs: unknown[] }>;
    };
    expect(tag.workflows[0]!.jobs).toEqual([]);
  });

  it("process --plan: one line per job", async () => {
    const r = await cli("process", file("good4.yml", GOOD), "--plan", "--branch", "dev");
    expect(r.out).toContain("workflow ci\n");
    expect(r.out).toMatch(
      / {2}test {2}\[docker cimg\/base:stable, medium, x2, 1 steps\] {2}requires: build/,
    );
    expect(r.out).not.toContain("release");
  });

  it("process --json: errors included, exit 1", async () => {
    const r = await cli(
      "process",
      file("bad2.yml", `version: 2.1\nworkflows:\n  ci: {jobs: [a]}\n`),
      "--json",
      "--param",
      "x=1",
    );
    expect(r.code).toBe(1);
    const j = JSON.parse(r.out) as {
      workflows: unknown[];
      errors: Array<{ code: string; line: number }>;
    };
    expect(j.workflows).toEqual([]);
    expect(j.errors.map((e) => e.code)).toEqual([
      "DROVER_ERR_CONFIG_PIPELINE_PARAM",
      "DROVER_ERR_CONFIG_UNDEFINED_JOB",
    ]);
  });

  it("rejects an unknown subcommand", async () => {
    expect((await cli("frob")).code).toBe(2);
  });
});
