/**
 * Isolation between projects through contexts (the rule in src/contexts/README.md): only admins
 * and users a context's restrictions admit may change it, so a member of project B cannot plant
 * code (`BASH_ENV`) in a context restricted to project A and have A's next job run it with A's
 * secrets. Every context route is checked against the rule, on PGlite and PostgreSQL.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ContextSecretsProvider,
  EmbeddedSecretStore,
  InstantScheduler,
  generateMasterKey,
  registerSecretsRoutes,
  type ControlPlane,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import { testDatabases } from "../helpers/databases.js";
import { http, makeRepo, startTestServer } from "../helpers/server.js";

const dbs = await testDatabases();

const SECRET = `a-secret-${randomUUID()}`;
const config = (context: string) => `version: 2.1
jobs:
  deploy:
    docker: [{image: drover/debian:bookworm}]
    steps:
      - run: echo deploying
workflows:
  main:
    jobs:
      - deploy: {context: [${context}]}
`;

interface User {
  id: string;
  token: string;
}

describe.each(dbs)("context isolation between projects ($name)", ({ open }) => {
  let db: Database;
  let cp: ControlPlane;
  let admin: string;
  const scheduler = new InstantScheduler();
  const org = `org-${randomUUID().slice(0, 8)}`;
  const slugA = `gh/${org}/alpha`;
  const slugB = `gh/${org}/beta`;
  const repo = makeRepo({ ".circleci/config.yml": config("deploy") });
  let projectA = "";
  let alice: User; // member of A
  let bob: User; // member of B
  let outsider: User; // member of no project of the org
  let deployId = "";

  const call = (method: string, path: string, token: string, body?: unknown) =>
    http(cp.url, method, path, { token, ...(body !== undefined ? { body } : {}) });
  const putVar = (who: User | string, id: string, name: string, value = "v-12345678") =>
    call("PUT", `/api/v2/context/${id}/environment-variable/${name}`, tokenOf(who), { value });
  const tokenOf = (who: User | string) => (typeof who === "string" ? who : who.token);
  const user = async (projects: string[]): Promise<User> => {
    const r = await call("POST", "/api/v2/tokens", admin, {
      login: `u-${randomUUID().slice(0, 8)}`,
      projects,
    });
    expect(r.status).toBe(201);
    return { id: r.body.user.id, token: r.body.token };
  };
  const newContext = async (name: string): Promise<string> => {
    const r = await call("POST", "/api/v2/context", admin, {
      name,
      owner: { slug: `gh/${org}`, type: "organization" },
    });
    expect(r.status).toBe(200);
    return r.body.id;
  };
  const restrict = async (id: string, type: "project" | "group", value: string) => {
    const r = await call("POST", `/api/v2/context/${id}/restrictions`, admin, {
      restriction_type: type,
      restriction_value: value,
    });
    expect(r.status).toBe(201);
    return r.body.id as string;
  };
  const auditOf = async (requestId: string | null) => {
    const all = await call("GET", "/api/v2/admin/audit-log?limit=1000", admin);
    return all.body.items.find((e: { request: { id: string } }) => e.request.id === requestId);
  };

  beforeAll(async () => {
    db = await open();
    const store = await EmbeddedSecretStore.open({
      db,
      masterKey: Buffer.from(generateMasterKey(), "base64"),
      keyName: "drover",
    });
    ({ cp } = await startTestServer(db, scheduler, {
      secrets: new ContextSecretsProvider({ db, store }),
      routes: [(app, deps) => registerSecretsRoutes(app, { db: deps.db, store })],
    }));
    admin = cp.bootstrapToken ?? "";
    for (const slug of [slugA, slugB]) {
      const r = await call("POST", "/api/v2/project", admin, { slug, repository_url: repo.url });
      expect(r.status).toBe(201);
      if (slug === slugA) projectA = r.body.id;
    }
    alice = await user([slugA]);
    bob = await user([slugB]);
    outsider = await user([]);
    deployId = await newContext("deploy");
    await restrict(deployId, "project", projectA);
  });
  afterAll(async () => {
    await cp.close();
    await db.close();
  });

  it("a member of another project cannot change a context restricted to project A", async () => {
    const stored = await putVar(alice, deployId, "DEPLOY_TOKEN", SECRET);
    expect(stored.status).toBe(200);

    const planted = await putVar(bob, deployId, "BASH_ENV", "/tmp/evil.sh");
    expect(planted.status).toBe(403);
    expect(planted.body.code).toBe("DROVER_ERR_CONTEXTS_FORBIDDEN");
    expect(planted.body.message).toMatch(/allowed projects/);
    const overwritten = await putVar(bob, deployId, "DEPLOY_TOKEN", "attacker-value");
    expect(overwritten.status).toBe(403);
    const deleted = await call(
      "DELETE",
      `/api/v2/context/${deployId}/environment-variable/DEPLOY_TOKEN`,
      bob.token,
    );
    expect(deleted.status).toBe(403);
    // Not a member of any project of the organization: the context does not exist for them.
    expect((await putVar(outsider, deployId, "BASH_ENV")).status).toBe(404);

    const names = await call("GET", `/api/v2/context/${deployId}/environment-variable`, bob.token);
    expect(names.body.items.map((v: { variable: string }) => v.variable)).toEqual(["DEPLOY_TOKEN"]);
  });

  it("project A's next job gets A's value and nothing B planted; B's job is refused", async () => {
    const a = await call("POST", `/api/v2/project/${slugA}/pipeline`, admin, { branch: "main" });
    expect(a.status).toBe(201);
    const plans = await scheduler.waitFor((all) => all.some((t) => t.pipeline.id === a.body.id));
    const task = plans.find((t) => t.pipeline.id === a.body.id)!;
    const claim = await http(cp.url, "POST", "/internal/v1/tasks/claim", {
      body: { token: task.taskToken },
    });
    expect(claim.status).toBe(200);
    expect(claim.body.task.environment.contexts).toEqual({ DEPLOY_TOKEN: SECRET });

    const b = await call("POST", `/api/v2/project/${slugB}/pipeline`, admin, { branch: "main" });
    expect(b.status).toBe(201);
    await cp.engine.idle();
    const wf = (await call("GET", `/api/v2/pipeline/${b.body.id}/workflow`, admin)).body.items[0];
    const jobs = await call("GET", `/api/v2/workflow/${wf.id}/job`, admin);
    expect(jobs.body.items).toMatchObject([{ name: "deploy", status: "unauthorized" }]);
  });

  it("audits each change of a restricted context with its actor", async () => {
    const byAlice = await putVar(alice, deployId, "REGION", "eu-west-1-region");
    const event = await auditOf(byAlice.headers.get("x-request-id"));
    expect(event).toMatchObject({
      action: "context.env_var.store",
      actor: { id: alice.id, type: "user" },
      target: { id: deployId, type: "context", name: "deploy" },
      payload: { env_var: { name: "REGION" }, context: { restricted: true } },
    });
    const byAdmin = await call(
      "DELETE",
      `/api/v2/context/${deployId}/environment-variable/REGION`,
      admin,
    );
    expect(byAdmin.status).toBe(200);
    expect(await auditOf(byAdmin.headers.get("x-request-id"))).toMatchObject({
      action: "context.env_var.delete",
      actor: { name: "admin" },
      payload: { context: { restricted: true } },
    });
  });

  it("any member of the organization may change an unrestricted context", async () => {
    const shared = await newContext("shared");
    const r = await putVar(bob, shared, "SHARED_URL", "https://example.invalid/x");
    expect(r.status).toBe(200);
    expect(await auditOf(r.headers.get("x-request-id"))).toMatchObject({
      actor: { id: bob.id },
      payload: { context: { restricted: false } },
    });
    expect((await putVar(outsider, shared, "SHARED_URL")).status).toBe(404);
  });

  it("with project and group restrictions, a writer must pass both", async () => {
    const prod = await newContext("production");
    const group = await call("POST", "/api/v2/admin/groups", admin, {
      name: "deployers",
      owner: { slug: `gh/${org}` },
    });
    expect(group.status).toBe(201);
    await restrict(prod, "project", projectA);
    await restrict(prod, "group", group.body.id);

    const notInGroup = await putVar(alice, prod, "KEY");
    expect(notInGroup.status).toBe(403);
    expect(notInGroup.body.message).toMatch(/allowed groups/);
    for (const who of [alice, bob]) {
      const added = await call(
        "PUT",
        `/api/v2/admin/groups/${group.body.id}/members/${who.id}`,
        admin,
      );
      expect(added.status).toBe(200);
    }
    expect((await putVar(alice, prod, "KEY")).status).toBe(200);
    // In the group, but not a member of an allowed project.
    expect((await putVar(bob, prod, "KEY")).status).toBe(403);
  });

  it("creating, deleting and restricting contexts and managing groups are for admins", async () => {
    const orgOwner = { slug: `gh/${org}`, type: "organization" };
    const restrictionId = (await call("GET", `/api/v2/context/${deployId}/restrictions`, admin))
      .body.items[0].id;
    const group = await call("POST", "/api/v2/admin/groups", admin, {
      name: `g-${randomUUID().slice(0, 6)}`,
      owner: { slug: `gh/${org}` },
    });
    // Alice may use `deploy` and change its variables, but none of these.
    const attempts: [string, string, unknown?][] = [
      ["POST", "/api/v2/context", { name: "mine", owner: orgOwner }],
      ["DELETE", `/api/v2/context/${deployId}`],
      [
        "POST",
        `/api/v2/context/${deployId}/restrictions`,
        { restriction_type: "project", restriction_value: projectA },
      ],
      ["DELETE", `/api/v2/context/${deployId}/restrictions/${restrictionId}`],
      ["POST", "/api/v2/admin/groups", { name: "mine", owner: { slug: `gh/${org}` } }],
      ["PUT", `/api/v2/admin/groups/${group.body.id}/members/${alice.id}`],
      ["DELETE", `/api/v2/admin/groups/${group.body.id}/members/${alice.id}`],
    ];
    for (const [method, path, body] of attempts) {
      const r = await call(method, path, alice.token, body);
      expect(r.status, `${method} ${path}`).toBe(403);
    }
    expect((await call("GET", `/api/v2/context/${deployId}`, alice.token)).status).toBe(200);
  });

  it("shows a restriction's project slug only to those who can see the project", async () => {
    const items = async (who: User | string) =>
      (await call("GET", `/api/v2/context/${deployId}/restrictions`, tokenOf(who))).body.items;
    expect(await items(alice)).toMatchObject([{ restriction_type: "project", name: slugA }]);
    expect(await items(admin)).toMatchObject([{ name: slugA }]);
    expect(await items(bob)).toMatchObject([{ restriction_value: projectA, name: "" }]);
    expect(
      (await call("GET", `/api/v2/context/${deployId}/restrictions`, outsider.token)).status,
    ).toBe(404);
  });
});
