/**
 * The control plane's side of a rerun with SSH: the rerun's task carries the asking user's keys,
 * a project that turned SSH reruns off refuses them when the job starts (not only when asked), and
 * the agent's login and logout reports land in the audit log with the key's fingerprint.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  SSH_RERUNS_OFF,
  addSshKey,
  createUser,
  queryAudit,
  updateProjectSettings,
} from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";
import { generateSshKeyPair } from "@drover/vm-service";
import { harness, type Harness } from "../helpers/harness.js";
import { job, plan } from "../helpers/plans.js";

describe("rerun with SSH in the control plane", () => {
  let db: Database;
  let h: Harness;
  beforeAll(async () => {
    db = await openDatabase({});
    h = await harness(db);
  });
  afterAll(async () => {
    await h?.engine.stop();
    await db?.close();
  });

  async function sshRerun(): Promise<{ taskToken: string; taskId: string }> {
    const { workflowIds } = await h.run(plan({ name: "wf", jobs: [job("build")] }));
    const wf = workflowIds[0]!;
    await h.finishJob(wf, "build", "failed");
    const user = await createUser(db, {
      login: `u-${Date.now()}-${Math.random()}`,
      role: "member",
    });
    const key = generateSshKeyPair("mine");
    await addSshKey(db, {
      userId: user.id,
      title: "laptop",
      publicKey: key.publicKey,
      fingerprint: key.fingerprint,
    });
    const jobs = await db.query<{ id: string }>(
      "SELECT id FROM jobs WHERE workflow_id = $1 AND name = 'build'",
      [wf],
    );
    const rerun = await h.engine.rerun(wf, { enableSsh: true, jobs: [jobs.rows[0]!.id] }, user.id);
    await h.engine.idle();
    const [t] = h.submittedFor(rerun, "build");
    return { taskToken: t!.taskToken, taskId: t!.taskId, key, user } as never;
  }

  it("hands the rerun's task the keys the asking user had when asking, and audits SSH sessions", async () => {
    const r = (await sshRerun()) as unknown as {
      taskToken: string;
      taskId: string;
      key: { publicKey: string; fingerprint: string };
      user: { id: string; login: string };
    };
    // A key added after the rerun was made does not open it: the keys were taken then.
    const later = generateSshKeyPair("later");
    await addSshKey(db, {
      userId: r.user.id,
      title: "later",
      publicKey: later.publicKey,
      fingerprint: later.fingerprint,
    });
    const { task } = await h.tasks.claim(r.taskToken);
    expect(task.ssh).toEqual({ enabled: true, authorizedKeys: [r.key.publicKey] });
    const at = new Date().toISOString();
    await h.tasks.events(r.taskId, [
      {
        type: "ssh_session",
        event: "login",
        fingerprint: r.key.fingerprint,
        address: "10.0.0.9",
        at,
      },
      {
        type: "ssh_session",
        event: "logout",
        fingerprint: r.key.fingerprint,
        address: "10.0.0.9",
        at,
      },
    ]);
    const page = await queryAudit(db, {
      actions: ["job.ssh.login", "job.ssh.logout"],
      order: "asc",
    });
    const mine = page.items.filter((e) => e.payload.task_id === r.taskId);
    expect(mine.map((e) => e.action)).toEqual(["job.ssh.login", "job.ssh.logout"]);
    expect(mine[0]).toMatchObject({
      actor: { id: r.user.id, type: "user", name: r.user.login },
      target: { type: "job", name: "build" },
      payload: { fingerprint: r.key.fingerprint, address: "10.0.0.9" },
    });
  });

  it("refuses SSH when the job starts if the project turned SSH reruns off after the rerun", async () => {
    const r = await sshRerun();
    await updateProjectSettings(db, h.project.id, {
      settings: { disable_ssh_reruns: true, allow_ssh_port_forwarding: true },
    });
    try {
      const { task } = await h.tasks.claim(r.taskToken);
      expect(task.ssh.enabled).toBe(true);
      expect(task.ssh.refused).toBe(SSH_RERUNS_OFF);
      // Forwarding is the project's choice too, read when the job starts.
      expect(task.ssh.portForwarding).toBe(true);
    } finally {
      await updateProjectSettings(db, h.project.id, {
        settings: { disable_ssh_reruns: null, allow_ssh_port_forwarding: null },
      });
    }
  });
});
