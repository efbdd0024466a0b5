import { randomUUID } from "node:crypto";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { pino } from "pino";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { describe, expect, it, vi } from "vitest";
import { generateSshKeyPair } from "@drover/vm-service";
import { NomadClient, jobSpecConfigSchema } from "@drover/nomad-jobs";
import { NomadTestServer } from "@drover/nomad-jobs/testing";
import { execFileSync } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { NomadScheduler, startMachines } from "@drover/control-plane";
import { openDatabase } from "@drover/control-plane/db";
import { makeRepo, startTestServer } from "../helpers/server.js";

const logger = pino({ level: "silent" });
const agentEntry = join(
  dirname(createRequire(import.meta.url).resolve("@drover/build-agent/package.json")),
  "bin",
  "drover-agent.js",
);

const CONFIG = `version: 2.1
jobs:
  build:
    docker: [{image: drover/debian:bookworm}]
    steps:
      - run: {name: greet, command: "echo hello from nomad node $CIRCLE_NODE_INDEX"}
  test:
    docker: [{image: drover/debian:bookworm}]
    parallelism: 2
    steps:
      - run: {name: unit, command: "test -n \\"$CIRCLE_NODE_TOTAL\\""}
workflows:
  main:
    jobs: [build, {test: {requires: [build]}}]
`;

describe("the real build agent through the nomad backend", () => {
  it("runs a pipeline whose tasks are Nomad allocations running drover-agent (raw_exec)", async () => {
    const nomad = await NomadTestServer.start({
      heartbeatMs: 200,
      execRawExec: true,
      // The simulated Nomad client's environment: agents print output instead of needing an output-processor.
      execEnv: { ...process.env, DROVER_OUTPUT: "stdout" },
    });
    const db = await openDatabase({});
    const scheduler = new NomadScheduler({
      client: new NomadClient({ address: nomad.url }),
      spec: jobSpecConfigSchema.parse({
        driver: "raw_exec",
        rawExec: { command: process.execPath, args: [agentEntry] },
      }),
      logger,
      ownsClient: true,
      stream: { minDelayMs: 20, maxDelayMs: 200 },
    });
    const { cp, admin } = await startTestServer(db, scheduler);
    const client = new NomadClient({ address: nomad.url });
    try {
      const repo = makeRepo({ ".circleci/config.yml": CONFIG });
      const slug = `gh/nomad/${randomUUID().slice(0, 8)}`;
      await admin.addProject({ slug, repository_url: repo.url, default_branch: "main" });
      const pipeline = await admin.trigger(slug, { branch: "main" });
      const deadline = Date.now() + 120_000;
      let status = "";
      let jobs: Array<{ name: string; status: string }> = [];
      const allocIds = new Set<string>();
      while (Date.now() < deadline) {
        for (const id of nomad.state.allocs.keys()) allocIds.add(id);
        const wfs = await admin.request<{ items: Array<{ id: string; status: string }> }>(
          "GET",
          `/api/v2/pipeline/${pipeline.id}/workflow`,
        );
        const wf = wfs.items[0];
        if (wf) {
          status = wf.status;
          jobs = (
            await admin.request<{ items: Array<{ name: string; status: string }> }>(
              "GET",
              `/api/v2/workflow/${wf.id}/job`,
            )
          ).items;
          if (!["running", "on_hold", "not_run"].includes(status)) break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
      for (const id of nomad.state.allocs.keys()) allocIds.add(id);
      // Purged allocations are gone from the API; their log files stay on the (test) client.
      const logs = [...allocIds].map((id) =>
        nomad.logs.file(id, "agent", "stdout").data.toString(),
      );
      expect(
        { status, jobs: jobs.map((j) => `${j.name}:${j.status}`).sort() },
        logs.join("\n---\n").slice(0, 4000),
      ).toEqual({
        status: "success",
        jobs: ["build:success", "test:success"],
      });
      // build, test x2: each an allocation that ran the agent; all purged once final.
      expect(nomad.requestCounts.get("PUT /v1/jobs")).toBe(3);
      expect(allocIds.size).toBe(3);
      expect(logs.join("\n")).toContain("hello from nomad node 0");
      let left = await client.jobs.list({ prefix: "drover-" });
      for (let i = 0; i < 200 && left.data.length > 0; i++) {
        await new Promise((r) => setTimeout(r, 50));
        left = await client.jobs.list({ prefix: "drover-" });
      }
      expect(left.data).toEqual([]);
    } finally {
      await cp.close();
      await scheduler.close();
      await client.close();
      await db.close();
      await nomad.close();
    }
  }, 180_000);

  it("runs a machine job: its agent leases the machine through the control plane and steps over SSH", async () => {
    execFileSync("docker", ["image", "inspect", "drover/machine:latest"], { stdio: "ignore" });
    const nomad = await NomadTestServer.start({
      heartbeatMs: 200,
      execRawExec: true,
      execEnv: { ...process.env, DROVER_OUTPUT: "stdout" },
    });
    const db = await openDatabase({});
    const vm = await startMachines({
      settings: { mode: "embedded", port: 0 },
      db,
      dataDir: mkdtempSync(join(tmpdir(), "drover-nomad-vm-")),
      logger,
    });
    const scheduler = new NomadScheduler({
      client: new NomadClient({ address: nomad.url }),
      spec: jobSpecConfigSchema.parse({
        driver: "raw_exec",
        rawExec: { command: process.execPath, args: [agentEntry] },
      }),
      logger,
      ownsClient: true,
      stream: { minDelayMs: 20, maxDelayMs: 200 },
    });
    const { cp, admin } = await startTestServer(db, scheduler, { machines: vm!.machines });
    try {
      const repo = makeRepo({
        ".circleci/config.yml": `version: 2.1
jobs:
  on-machine:
    machine: true
    steps:
      - checkout
      - run: {name: where, command: "echo on $(hostname) as $(id -un) in $PWD"}
workflows:
  main:
    jobs: [on-machine]
`,
      });
      const slug = `gh/nomad/${randomUUID().slice(0, 8)}`;
      await admin.addProject({ slug, repository_url: repo.url, default_branch: "main" });
      const pipeline = await admin.trigger(slug, { branch: "main" });
      let jobs: Array<{ name: string; status: string }> = [];
      const allocIds = new Set<string>();
      await expect
        .poll(
          async () => {
            for (const id of nomad.state.allocs.keys()) allocIds.add(id);
            const wf = (
              await admin.request<{ items: Array<{ id: string; status: string }> }>(
                "GET",
                `/api/v2/pipeline/${pipeline.id}/workflow`,
              )
            ).items[0];
            if (!wf) return "none";
            jobs = (
              await admin.request<{ items: Array<{ name: string; status: string }> }>(
                "GET",
                `/api/v2/workflow/${wf.id}/job`,
              )
            ).items;
            return wf.status;
          },
          { timeout: 120_000, interval: 200 },
        )
        .toBe("success");
      expect(jobs.map((j) => `${j.name}:${j.status}`)).toEqual(["on-machine:success"]);
      const logs = [...allocIds]
        .map((id) => nomad.logs.file(id, "agent", "stdout").data.toString())
        .join("\n");
      expect(logs).toContain("on drover-machine as circleci in /home/circleci/project");
      // The engine's cleanup gave the machine back.
      await expect.poll(() => vm!.machines.leasedTasks(), { timeout: 30_000 }).toEqual([]);
    } finally {
      await cp.close();
      await scheduler.close();
      await vm?.close();
      await db.close();
      await nomad.close();
    }
  }, 180_000);

  it("reruns a failed job with SSH: the agent listens on the task's Nomad port and lets the user in", async () => {
    const nomad = await NomadTestServer.start({
      heartbeatMs: 200,
      execRawExec: true,
      execEnv: {
        ...process.env,
        DROVER_OUTPUT: "stdout",
        DROVER_SSH_IDLE_MS: "500",
        DROVER_SSH_FIRST_CONNECT_MS: "60000",
      },
    });
    const db = await openDatabase({});
    const scheduler = new NomadScheduler({
      client: new NomadClient({ address: nomad.url }),
      spec: jobSpecConfigSchema.parse({
        driver: "raw_exec",
        rawExec: { command: process.execPath, args: [agentEntry] },
      }),
      logger,
      ownsClient: true,
      stream: { minDelayMs: 20, maxDelayMs: 200 },
    });
    const { cp, admin } = await startTestServer(db, scheduler);
    const dir = mkdtempSync(join(tmpdir(), "drover-nomad-ssh-"));
    const key = generateSshKeyPair("nomad-user");
    writeFileSync(join(dir, "id"), key.privateKey, { mode: 0o600 });
    const allocIds = new Set<string>();
    const wfStatus = async (pipelineId: string, n: number) => {
      for (const id of nomad.state.allocs.keys()) allocIds.add(id);
      const items = (
        await admin.request<{ items: Array<{ id: string; status: string }> }>(
          "GET",
          `/api/v2/pipeline/${pipelineId}/workflow`,
        )
      ).items;
      return items[n];
    };
    try {
      const repo = makeRepo({
        ".circleci/config.yml": `version: 2.1
jobs:
  build:
    docker: [{image: drover/debian:bookworm}]
    steps:
      - run: {name: flaky, command: "exit 1"}
workflows:
  main:
    jobs: [build]
`,
      });
      const slug = `gh/nomad/${randomUUID().slice(0, 8)}`;
      await admin.addProject({ slug, repository_url: repo.url, default_branch: "main" });
      const pipeline = await admin.trigger(slug, { branch: "main" });
      await expect
        .poll(async () => (await wfStatus(pipeline.id, 0))?.status, { timeout: 120_000 })
        .toBe("failed");
      const first = (await wfStatus(pipeline.id, 0))!;
      await admin.request("POST", "/api/v2/me/ssh-keys", { public_key: key.publicKey });
      const jobs = await admin.request<{ items: Array<{ id: string }> }>(
        "GET",
        `/api/v2/workflow/${first.id}/job`,
      );
      const rerun = await admin.request<{ workflow_id: string }>(
        "POST",
        `/api/v2/workflow/${first.id}/rerun`,
        { enable_ssh: true, jobs: [jobs.items[0]!.id] },
      );
      // The Enable SSH step's line, in the agent's output (its Nomad task's stdout here).
      const where = await vi.waitFor(
        () => {
          for (const id of nomad.state.allocs.keys()) allocIds.add(id);
          for (const id of allocIds) {
            const out = nomad.logs.file(id, "agent", "stdout").data.toString();
            const m = /\$ ssh -p (\d+) (\S+?)\\n/.exec(out);
            if (m) return { port: Number(m[1]), host: m[2]! };
          }
          throw new Error("no ssh line yet");
        },
        { timeout: 120_000, interval: 200 },
      );
      expect(where.port).toBeGreaterThanOrEqual(64535);
      expect(where.port).toBeLessThanOrEqual(65535);
      const out = await new Promise<string>((resolve, reject) => {
        const c = spawn("ssh", [
          "-p",
          String(where.port),
          "-i",
          join(dir, "id"),
          "-o",
          "IdentitiesOnly=yes",
          "-o",
          "BatchMode=yes",
          "-o",
          "StrictHostKeyChecking=no",
          "-o",
          "UserKnownHostsFile=/dev/null",
          "-o",
          "LogLevel=ERROR",
          "me@127.0.0.1",
          "echo in the job on node $CIRCLE_NODE_INDEX",
        ]);
        let text = "";
        c.stdout.on("data", (d: Buffer) => (text += d.toString()));
        c.once("error", reject);
        c.once("close", () => resolve(text));
      });
      expect(out).toBe("in the job on node 0\n");
      // Idle after the session: the rerun ends with the job's own result.
      await expect
        .poll(
          async () => {
            const items = (
              await admin.request<{ items: Array<{ id: string; status: string }> }>(
                "GET",
                `/api/v2/pipeline/${pipeline.id}/workflow`,
              )
            ).items;
            return items.find((w) => w.id === rerun.workflow_id)?.status;
          },
          { timeout: 120_000 },
        )
        .toBe("failed");
    } finally {
      await cp.close();
      await scheduler.close();
      await db.close();
      await nomad.close();
    }
  }, 240_000);
});
