import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { NomadClient, jobRegisterRequestSchema } from "@drover/nomad-jobs";
import { NomadTestServer } from "@drover/nomad-jobs/testing";
import { runCli } from "@drover/cli";

const run = (argv: string[]): Promise<number> => runCli(["nomad", ...argv]);

const CONFIG = `version: 2.1
parameters:
  nodes:
    type: integer
    default: 2
jobs:
  build:
    docker:
      - image: drover/debian:bookworm
    resource_class: large
    parallelism: << pipeline.parameters.nodes >>
    steps:
      - run: echo build
  deploy:
    machine:
      image: default
    steps:
      - run: echo deploy
workflows:
  main:
    jobs:
      - build
      - deploy:
          requires: [build]
          filters:
            branches:
              only: main
`;

let out: string[];
let err: string[];
let dir: string;
beforeEach(() => {
  out = [];
  err = [];
  vi.spyOn(process.stdout, "write").mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, "write").mockImplementation((s) => (err.push(String(s)), true));
  dir = mkdtempSync(join(tmpdir(), "drover-nomad-cli-"));
});
afterEach(() => {
  vi.restoreAllMocks();
  rmSync(dir, { recursive: true, force: true });
});

const lines = (): unknown[] =>
  out
    .join("")
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));

describe("drover nomad render", () => {
  it("prints one schema-valid register body per task, without contacting Nomad", async () => {
    const file = join(dir, "config.yml");
    writeFileSync(file, CONFIG);
    const code = await run([
      "render",
      file,
      "--branch",
      "main",
      "--param",
      "nodes=3",
      "--project",
      "gh/acme/api",
    ]);
    expect(err.join("")).toBe("");
    expect(code).toBe(0);
    const bodies = lines() as Array<{
      Job: {
        ID: string;
        TaskGroups: Array<{ Tasks: Array<{ Resources: unknown; Env: Record<string, string> }> }>;
      };
    }>;
    expect(bodies.map((b) => b.Job.ID)).toEqual([
      "drover-gh-acme-api-1-build-1-1-0",
      "drover-gh-acme-api-1-build-1-1-1",
      "drover-gh-acme-api-1-build-1-1-2",
      "drover-gh-acme-api-1-deploy-2-1-0",
    ]);
    for (const b of bodies) expect(jobRegisterRequestSchema.safeParse(b).success).toBe(true);
    expect(bodies[0]!.Job.TaskGroups[0]!.Tasks[0]!.Resources).toEqual({
      CPU: 4000,
      MemoryMB: 8192,
    });
    expect(bodies[0]!.Job.TaskGroups[0]!.Tasks[0]!.Env.DROVER_TASK_TOKEN).toBe("<task-token>");
  });

  it("applies branch filters and reports compile errors with their position", async () => {
    const file = join(dir, "config.yml");
    writeFileSync(file, CONFIG);
    expect(await run(["render", file, "--branch", "feature"])).toBe(0);
    expect(lines()).toHaveLength(2);
    writeFileSync(file, "version: 2.1\njobs:\n  a:\n    docker: 5\n");
    out = [];
    expect(await run(["render", file])).toBe(1);
    expect(err.join("")).toMatch(/config\.yml:\d+:\d+/);
  });
});

describe("drover nomad jobs", () => {
  it("lists Drover's jobs with allocation status and Nomad UI links", async () => {
    const server = await NomadTestServer.start();
    const saved = process.env.NOMAD_ADDR;
    process.env.NOMAD_ADDR = server.url;
    try {
      const file = join(dir, "config.yml");
      writeFileSync(file, CONFIG);
      await run(["render", file, "--project", "gh/acme/api"]);
      const client = new NomadClient({ address: server.url });
      for (const body of lines() as Array<{ Job: never }>) await client.jobs.register(body.Job);
      await client.close();
      out = [];
      expect(await run(["jobs"])).toBe(0);
      const table = out.join("");
      expect(table).toMatch(/^JOB\s+STATUS\s+ALLOCATION\s+NODE\s+UI/);
      expect(table).toContain("drover-gh-acme-api-1-build-1-1-0");
      expect(table).toContain(`${server.url}/ui/allocations/`);
      out = [];
      expect(await run(["jobs", "--json"])).toBe(0);
      const rows = lines() as Array<{ jobId: string; links: { job: string } }>;
      expect(rows).toHaveLength(3);
      expect(rows[0]!.links.job).toBe(`${server.url}/ui/jobs/${rows[0]!.jobId}@default`);
    } finally {
      if (saved === undefined) delete process.env.NOMAD_ADDR;
      else process.env.NOMAD_ADDR = saved;
      await server.close();
    }
  });
});
