/**
 * Machines of tasks through a real vm-service (local provider) on the control plane's own
 * database (PGlite): what a task may lease, one machine per task, release when the engine cleans
 * the task up, the backstop for tasks no longer active, and errors that name the cause.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  InstantScheduler,
  MachineReleasingScheduler,
  tendTaskMachines,
  startMachines,
  VmTaskMachines,
  type MachinesHandle,
} from "@drover/control-plane";
import { startVmService } from "@drover/vm-service";
import { VmServiceClient } from "@drover/vm-service/client";
import { openDatabase, type Database } from "@drover/control-plane/db";
import type { JobPlan } from "@drover/config-compiler";
import { harness, logger, type Harness } from "../helpers/harness.js";
import { job, plan } from "../helpers/plans.js";

// Machines boot a Docker engine of their own: slow when the whole suite loads the host.
vi.setConfig({ testTimeout: 300_000, hookTimeout: 300_000 });

const ready = (() => {
  try {
    execFileSync("docker", ["image", "inspect", "drover/machine:latest"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!ready && process.env.CI === "true") throw new Error("CI: drover/machine:latest is required");

const machineJob = (name: string): JobPlan => ({
  ...job(name),
  executor: { type: "machine", image: "ubuntu-2204:current", dockerLayerCaching: false },
  resourceClass: "large",
});

describe.skipIf(!ready)("task machines through vm-service on PGlite", () => {
  let db: Database;
  let h: Harness;
  let vm: MachinesHandle;

  beforeAll(async () => {
    db = await openDatabase({});
    h = await harness(db);
    const dataDir = mkdtempSync(join(tmpdir(), "drover-machines-"));
    vm = (await startMachines({ settings: { mode: "embedded", port: 0 }, db, dataDir, logger }))!;
  });
  afterAll(async () => {
    await vm?.close();
    await h?.engine.stop();
    await db?.close();
  });

  /** Runs a one-job pipeline and claims its task; returns the task id. */
  async function claimed(j: JobPlan): Promise<{ taskId: string; workflowId: string }> {
    const { workflowIds } = await h.run(plan({ name: "wf", jobs: [j] }));
    const workflowId = workflowIds[0]!;
    const [t] = h.submittedFor(workflowId, j.name);
    await h.tasks.claim(t!.taskToken);
    return { taskId: t!.taskId, workflowId };
  }

  it("says what a task's machine is made from, and refuses what its job does not use", async () => {
    const m = await claimed(machineJob("on-machine"));
    expect(await h.tasks.machineRequest(m.taskId, "executor")).toEqual({
      image: "ubuntu-2204:current",
      resourceClass: "large",
    });
    await expect(h.tasks.machineRequest(m.taskId, "remote_docker")).rejects.toMatchObject({
      code: "DROVER_ERR_INVALID_STATE",
    });
    const d = await claimed({
      ...job("remote"),
      steps: [
        {
          type: "setup_remote_docker",
          name: "remote",
          when: "on_success",
          dockerLayerCaching: false,
        },
      ],
    });
    expect(await h.tasks.machineRequest(d.taskId, "remote_docker")).toEqual({
      image: "docker-default",
      resourceClass: "medium",
    });
    await expect(h.tasks.machineRequest(d.taskId, "executor")).rejects.toMatchObject({
      code: "DROVER_ERR_INVALID_STATE",
    });
  });

  it("leases one machine per task and releases it when the engine cleans the task up", async () => {
    const taskId = randomUUID();
    const first = await vm.machines.lease(taskId, { image: "default", resourceClass: "medium" });
    expect(first).toMatchObject({ provider: "local", dockerNames: ["remote-docker"] });
    expect(first.sshPrivateKey).toMatch(/PRIVATE KEY/);
    const again = await vm.machines.lease(taskId, { image: "default", resourceClass: "medium" });
    expect(again.id).toBe(first.id);
    expect(await vm.machines.leasedTasks()).toContain(taskId);
    const scheduler = new MachineReleasingScheduler(new InstantScheduler(), vm.machines, logger);
    await scheduler.cleanup(taskId);
    expect(await vm.machines.leasedTasks()).not.toContain(taskId);
    await scheduler.cancel(taskId); // idempotent: nothing left to release
  });

  it("releases, in the tending pass, machines of tasks that are over, and renews those of running ones", async () => {
    const { taskId, workflowId } = await claimed(machineJob("finishing"));
    const unknown = randomUUID();
    await vm.machines.lease(taskId, { image: "default", resourceClass: "medium" });
    await vm.machines.lease(unknown, { image: "default", resourceClass: "medium" });
    const expiry = async () =>
      (await vm.machines.leases()).find((l) => l.taskId === taskId)!.expiresAt.getTime();
    const before = await expiry();
    // Still running, its lease far from running out: kept as it is.
    expect(await tendTaskMachines(db, vm.machines, logger)).toEqual({
      released: [unknown],
      renewed: [],
    });
    expect(await expiry()).toBe(before);
    // 45 minutes on, the hour's lease runs out within 30 minutes: renewed.
    const later = () => new Date(Date.now() + 45 * 60_000);
    expect(await tendTaskMachines(db, vm.machines, logger, later)).toEqual({
      released: [],
      renewed: [taskId],
    });
    expect(await expiry()).toBeGreaterThan(before);
    await h.tasks.events(taskId, [
      { type: "task_finished", result: "success", at: new Date().toISOString() },
    ]);
    expect((await h.statuses(workflowId)).finishing).toBe("success");
    expect(await tendTaskMachines(db, vm.machines, logger)).toEqual({
      released: [taskId],
      renewed: [],
    });
    expect(await vm.machines.leasedTasks()).not.toContain(taskId);
  });

  it("names the cause when no machine can be had", async () => {
    const gone = await startMachines({
      settings: { mode: "remote", url: "http://127.0.0.1:1", serviceToken: "x".repeat(16) },
      db,
      dataDir: "/nonexistent",
      logger,
    });
    await expect(
      gone!.machines.lease(randomUUID(), { image: "default", resourceClass: "medium" }),
    ).rejects.toMatchObject({
      code: "DROVER_ERR_MACHINES_UNAVAILABLE",
      message: expect.stringMatching(
        /cannot lease a default machine \(medium\): cannot reach vm-service/,
      ),
    });
    await gone!.close();
    // A provider failure (here: the machine image is missing) names what failed.
    const token = "t".repeat(24);
    const broken = await startVmService({
      config: {
        port: 0,
        serviceToken: token,
        local: { image: "drover/no-such-machine:latest" },
        leases: { installId: `test-${randomUUID()}` },
      },
      db,
      logger,
    });
    const client = new VmServiceClient({ url: broken.url, serviceToken: token });
    const failed = await new VmTaskMachines(client)
      .lease(randomUUID(), { image: "default", resourceClass: "medium" })
      .catch((e: unknown) => e);
    expect(failed).toMatchObject({
      code: "DROVER_ERR_MACHINE_FAILED",
      message: expect.stringMatching(/drover\/no-such-machine:latest is missing/),
    });
    await client.close();
    await broken.close();
  });
});
