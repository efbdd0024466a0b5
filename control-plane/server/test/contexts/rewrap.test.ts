import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ContextSecretsProvider,
  ContextsService,
  EmbeddedSecretStore,
  createProject,
  generateMasterKey,
  rewrapStoredSecrets,
  type Actor,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import { testDatabases } from "../helpers/databases.js";

const dbs = await testDatabases();

describe.each(dbs)("rewrapping stored secrets after rotation on $name", (target) => {
  let db: Database;
  beforeAll(async () => {
    db = await target.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("upgrades every stale ciphertext and the values still decrypt at claim time", async () => {
    const store = await EmbeddedSecretStore.open({
      db,
      masterKey: Buffer.from(generateMasterKey(), "base64"),
      keyName: `k-${randomUUID()}`,
    });
    const project = await createProject(db, {
      slug: `gh/rw-${randomUUID().slice(0, 8)}/app`,
      repositoryUrl: "file:///nonexistent",
    });
    const { rows } = await db.query<{ id: string }>(
      "INSERT INTO users (id, login, name, role) VALUES ($1, $2, 'A', 'admin') RETURNING id",
      [randomUUID(), `admin-${randomUUID().slice(0, 8)}`],
    );
    const actor: Actor = {
      userId: rows[0]!.id,
      login: "admin",
      role: "admin",
      projectIds: new Set(),
    };
    const svc = new ContextsService({ db, store });
    const values: Record<string, string> = {};
    for (let i = 0; i < 7; i++) {
      values[`VAR_${i}`] = `value-${i}-${randomUUID()}`;
      await svc.setProjectEnvVar({ actor }, project.slug, `VAR_${i}`, values[`VAR_${i}`]);
    }
    const ctx = await svc.createContext({ actor }, { name: "rw", owner: { id: project.orgId } });
    await svc.putContextEnvVar({ actor }, ctx.id, "CTX", "context-value-123");

    await store.rotate();
    expect(await rewrapStoredSecrets({ db, store }, 3)).toBe(8);
    expect(await rewrapStoredSecrets({ db, store }, 3)).toBe(0);
    const { rows: stored } = await db.query<{ ciphertext: string }>(
      `SELECT ciphertext FROM project_env_vars WHERE project_id = $1
       UNION ALL SELECT ciphertext FROM context_env_vars WHERE context_id = $2`,
      [project.id, ctx.id],
    );
    expect(stored).toHaveLength(8);
    for (const r of stored) expect(r.ciphertext.startsWith("vault:v2:")).toBe(true);

    const released = await new ContextSecretsProvider({ db, store }).forTask({
      taskId: randomUUID(),
      projectId: project.id,
      projectSlug: project.slug,
      orgId: project.orgId,
      contexts: ["rw"],
      userId: actor.userId,
    });
    expect(released.project).toEqual(values);
    expect(released.contexts).toEqual({ CTX: "context-value-123" });
  });
});
