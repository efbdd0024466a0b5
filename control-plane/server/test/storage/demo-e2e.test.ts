/**
 * examples/demo through the real control plane: API, workflow engine, local scheduler spawning the
 * built build-agent, the task storage routes compose.ts mounts, artifacts and tests served by the v2 API.
 * Needs `npx tsc --build` first (the scheduler runs build-agent/dist) and Docker with the images.
 */
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DroverClient, followPipeline } from "@drover/cli";
import { serverConfigFromEnv } from "../../src/config/load.js";
import { startControlPlane, type ControlPlane } from "../../src/server/compose.js";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const AGENT = path.join(ROOT, "build-agent/dist/main.js");

let cp: ControlPlane;
let dataDir: string;
let repo: string;
beforeAll(async () => {
  if (!existsSync(AGENT)) throw new Error(`${AGENT} is missing: run npx tsc --build first`);
  dataDir = mkdtempSync(path.join(os.tmpdir(), "drover-e2e-"));
  repo = mkdtempSync(path.join(os.tmpdir(), "drover-demo-"));
  cpSync(path.join(ROOT, "examples/demo"), repo, { recursive: true });
  const git = (...a: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@e", ...a], { cwd: repo })
      .toString()
      .trim();
  git("init", "-q", "-b", "main");
  git("add", ".");
  git("commit", "-q", "-m", "demo");
  cp = await startControlPlane({
    config: serverConfigFromEnv({
      DROVER_HOST: "127.0.0.1",
      DROVER_PORT: "0",
      DROVER_DATA_DIR: dataDir,
    }),
    logger: pino({ level: process.env.DROVER_TEST_LOG ?? "silent" }),
  });
}, 120_000);
afterAll(async () => {
  await cp?.close();
  if (!process.env.DROVER_TEST_KEEP) rmSync(dataDir, { recursive: true, force: true });
  rmSync(repo, { recursive: true, force: true });
});

describe("examples/demo on the control plane", () => {
  it("runs green and serves its artifacts and test results", async () => {
    const client = new DroverClient(cp.url, cp.bootstrapToken ?? "");
    const slug = `local/e2e/demo-${path.basename(repo).slice(-6).toLowerCase()}`;
    await client.addProject({ slug, repository_url: `file://${repo}`, default_branch: "main" });
    const revision = execFileSync("git", ["rev-parse", "HEAD"], { cwd: repo }).toString().trim();
    const p = await client.trigger(slug, {
      branch: "main",
      revision,
      config: readFileSync(path.join(repo, ".circleci/config.yml"), "utf8"),
    });
    const lines: string[] = [];
    const workflows = await followPipeline(client, p.id, {
      slug,
      write: (l) => {
        lines.push(l);
        if (process.env.DROVER_TEST_LOG) process.stderr.write(`${l}\n`);
      },
    });
    expect(
      workflows.map((w) => w.status),
      lines.join("\n"),
    ).toEqual(["success"]);

    const get = async (url: string) => {
      const res = await fetch(`${cp.url}${url}`, {
        headers: { "circle-token": cp.bootstrapToken ?? "" },
      });
      return (await res.json()) as { items: Array<Record<string, unknown>> };
    };
    const jobs = await get(`/api/v2/workflow/${workflows[0]?.id}/job`);
    const number = (name: string) => jobs.items.find((j) => j.name === name)?.job_number;
    const artifacts = await get(`/api/v2/project/${slug}/${number("test")}/artifacts`);
    expect(artifacts.items.map((a) => [a.path, a.node_index]).sort()).toEqual([
      ["test-results/junit-node-0.xml", 0],
      ["test-results/junit-node-1.xml", 1],
    ]);
    const tests = await get(`/api/v2/project/${slug}/${number("test")}/tests`);
    expect(tests.items).toHaveLength(6);
    expect(tests.items.every((t) => t.result === "success")).toBe(true);
    const report = await get(`/api/v2/project/${slug}/${number("report")}/artifacts`);
    expect(report.items.map((a) => a.path)).toEqual(["report.txt"]);
  }, 240_000);
});
