import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { LocalScheduler, type ControlPlane } from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";
import { runCli, type DroverClient } from "@drover/cli";
import { logger } from "../helpers/harness.js";
import { ed25519Key, makeRepo, startTestServer } from "../helpers/server.js";

const runCommand = (argv: string[]): Promise<number> => runCli(["run", ...argv]);
const workflowCommand = (argv: string[]): Promise<number> => runCli(["workflow", ...argv]);
const tokenCommand = (argv: string[]): Promise<number> => runCli(["token", ...argv]);
const projectCommand = (argv: string[]): Promise<number> => runCli(["project", ...argv]);
const pipelineCommand = (argv: string[]): Promise<number> => runCli(["pipeline", ...argv]);

const agent = fileURLToPath(new URL("../fixtures/fake-agent.mjs", import.meta.url));

const CONFIG = (fail: boolean) => `version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [{run: {name: compile, command: "echo compiling"}}]}
  test: {docker: [{image: x}], parallelism: 2, steps: [{run: {name: unit, command: "${fail ? "exit 3" : "true"}"}}]}
workflows:
  main:
    jobs: [build, {test: {requires: [build]}}]
`;

function capture() {
  const lines: string[] = [];
  const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk: string | Uint8Array) => {
    lines.push(String(chunk));
    return true;
  });
  return { text: () => lines.join(""), restore: () => spy.mockRestore() };
}

describe("drover run / workflow rerun / token create", () => {
  let db: Database;
  let cp: ControlPlane;
  let admin: DroverClient;
  beforeAll(async () => {
    db = await openDatabase({});
    const dataDir = `/tmp/drover-cli-${randomUUID()}`;
    ({ cp, admin } = await startTestServer(
      db,
      new LocalScheduler({
        logger,
        stateDir: `${dataDir}/agents`,
        agentCommand: [process.execPath, agent],
      }),
    ));
    process.env.DROVER_URL = cp.url;
    process.env.DROVER_TOKEN = cp.bootstrapToken ?? "";
  });
  afterAll(async () => {
    delete process.env.DROVER_URL;
    delete process.env.DROVER_TOKEN;
    await cp.close();
    await db.close();
  });

  it("adds the project, builds the working-tree config and exits with the workflow result", async () => {
    const repo = makeRepo({ ".circleci/config.yml": CONFIG(false) });
    const slug = `local/t/${randomUUID().slice(0, 8)}`;
    let out = capture();
    let code: number;
    try {
      code = await runCommand([repo.dir, "--project", slug]);
    } finally {
      out.restore();
    }
    expect(out.text()).toContain(`added project ${slug}`);
    expect(out.text()).toMatch(/main\/build: ✓ compile \(exit 0\)/);
    expect(out.text()).toMatch(/main\/test \[node 1\]: ✓ unit \(exit 0\)/);
    expect(out.text()).toContain("workflow main: success");
    expect(code).toBe(0);

    // The working tree's config wins over the committed one; a failing job makes the exit code 1.
    const { writeFileSync } = await import("node:fs");
    writeFileSync(`${repo.dir}/.circleci/config.yml`, CONFIG(true));
    out = capture();
    try {
      code = await runCommand([repo.dir, "--project", slug]);
    } finally {
      out.restore();
    }
    expect(out.text()).toMatch(/unit \(exit 3\)/);
    expect(out.text()).toContain("workflow main: failed");
    expect(code).toBe(1);

    const pipelines = await admin.listPipelines(slug);
    expect(pipelines.items.map((p) => p.trigger.type)).toEqual(["explicit", "explicit"]);
    const wf = (await admin.pipelineWorkflows(pipelines.items[0]?.id ?? "")).items[0];
    await admin.request("POST", "/api/v2/me/ssh-keys", { public_key: ed25519Key() });
    out = capture();
    try {
      expect(await workflowCommand(["rerun", wf?.id ?? "", "--ssh"])).toBe(0);
    } finally {
      out.restore();
    }
    const rerunId = /rerun workflow (\S+)/.exec(out.text())?.[1] ?? "";
    const jobs = (await admin.workflowJobs(rerunId)).items;
    expect(jobs.map((j) => [j.name, (j as { enable_ssh?: boolean }).enable_ssh])).toEqual([
      ["test", true],
    ]);
  });

  it("adds a project and triggers, follows, lists and shows its pipelines", async () => {
    const repo = makeRepo({ ".circleci/config.yml": CONFIG(false) });
    const slug = `gh/acme/${randomUUID().slice(0, 8)}`;
    const out = capture();
    try {
      expect(await projectCommand(["add", slug, repo.url])).toBe(0);
      expect(await pipelineCommand(["trigger", slug, "--branch", "main", "--follow"])).toBe(0);
      expect(await pipelineCommand(["list", slug])).toBe(0);
      const id = (await admin.listPipelines(slug)).items[0]?.id ?? "";
      expect(await pipelineCommand(["show", id])).toBe(0);
      expect(await pipelineCommand(["frobnicate", slug])).toBe(2);
    } finally {
      out.restore();
    }
    expect(out.text()).toMatch(/webhook secret \(.*\): [0-9a-f]{64}/);
    expect(out.text()).toContain("workflow main: success");
    expect(out.text()).toMatch(/#1 {2}created {2}branch main {2}[0-9a-f]{12} {2}api/);
    expect(out.text()).toMatch(
      /workflow main success[\s\S]*build #\d+ success[\s\S]*test #\d+ success/,
    );
  });

  it("creates tokens for members", async () => {
    const out = capture();
    try {
      expect(await tokenCommand(["create", "--login", `m-${randomUUID().slice(0, 6)}`])).toBe(0);
      expect(await tokenCommand(["create", "--role", "owner"])).toBe(2);
    } finally {
      out.restore();
    }
    expect(out.text()).toMatch(/\(member\), shown once:\ndrv_\S{43}\n/);
  });
});
