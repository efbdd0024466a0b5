/**
 * The restart test with a real kill: `drover up` (the built CLI, `npm run build` first) runs as
 * a child process, gets SIGKILL while a job's agent is mid-step, and a new `drover up` on the same
 * data directory and port finishes the workflow.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomUUID } from "node:crypto";
import { afterAll, describe, expect, it, vi } from "vitest";
import { DroverClient } from "@drover/cli";
import { makeRepo } from "../helpers/server.js";
import { agentRetried, freePort, gatedWorkflow, WAIT } from "./restart-fixture.js";

const cli = fileURLToPath(new URL("../../../cli/dist/main.js", import.meta.url));
const agent = fileURLToPath(new URL("../fixtures/fake-agent.mjs", import.meta.url));

describe("restart after SIGKILL (drover up as a child process)", () => {
  const children: ChildProcess[] = [];
  afterAll(() => {
    for (const c of children) if (c.exitCode === null) c.kill("SIGKILL");
  });

  it("finishes the workflow correctly", async () => {
    expect(existsSync(cli), `${cli} is missing: run npm run build first`).toBe(true);
    const dataDir = mkdtempSync(join(tmpdir(), "drover-kill-"));
    const flow = gatedWorkflow();
    const port = await freePort();
    const up = async () => {
      const child = spawn(process.execPath, [cli, "up"], {
        env: {
          ...process.env,
          DROVER_PORT: String(port),
          DROVER_DATA_DIR: dataDir,
          DROVER_TICK_MS: "200",
          DROVER_AGENT_COMMAND: JSON.stringify([process.execPath, agent]),
          DROVER_LOG_LEVEL: "warn",
        },
        stdio: ["ignore", "pipe", "inherit"],
      });
      children.push(child);
      let out = "";
      await new Promise<void>((resolve, reject) => {
        child.stdout?.on("data", (d: Buffer) => {
          out += d.toString();
          if (out.includes("Drover is up at")) resolve();
        });
        child.once("exit", (code) => reject(new Error(`drover up exited ${code}: ${out}`)));
      });
      return child;
    };
    const first = await up();
    const { url, token } = JSON.parse(readFileSync(join(dataDir, "cli.json"), "utf8")) as {
      url: string;
      token: string;
    };
    const client = new DroverClient(url, token);
    const slug = `gh/acme/${randomUUID().slice(0, 8)}`;
    await client.addProject({
      slug,
      repository_url: makeRepo({ ".circleci/config.yml": flow.config }).url,
    });
    const p = await client.trigger(slug, { branch: "main" });
    const wf = (await client.pipelineWorkflows(p.id)).items[0]?.id ?? "";
    await flow.stepStarted();
    first.kill("SIGKILL");
    await new Promise((r) => first.once("exit", r));
    // b's step ends while no control plane runs: its agent's report has to wait.
    await flow.openGate();
    await agentRetried(dataDir, "b");
    const second = await up();
    const done = await vi.waitFor(async () => {
      const w = await client.workflow(wf);
      expect(w.stopped_at).not.toBeNull();
      return w;
    }, WAIT);
    const jobs = (await client.workflowJobs(wf)).items;
    expect(jobs.map((j) => [j.name, j.status])).toEqual([
      ["a", "success"],
      ["b", "success"],
      ["c", "success"],
    ]);
    expect(done.status).toBe("success");
    second.kill("SIGTERM");
    await new Promise((r) => second.once("exit", r));
    // Two cold `drover up` starts: on a loaded machine each alone can take most of a minute.
  }, 180_000);
});
