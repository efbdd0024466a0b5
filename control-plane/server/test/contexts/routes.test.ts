/**
 * Env vars, contexts, restrictions, groups, the audit log and sessions through the real API server
 * (`startControlPlane`), plus a claim that releases the secrets: the values reach the task spec,
 * and no other API response, log line or task plan holds them (nor their base64 form).
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ContextSecretsProvider,
  EmbeddedSecretStore,
  InstantScheduler,
  SessionService,
  createProject,
  generateMasterKey,
  registerSecretsRoutes,
  registerSessionRoutes,
  serverConfigSchema,
  startControlPlane,
  type ControlPlane,
  type Project,
} from "@drover/control-plane";
import type { PipelinePlan } from "@drover/config-compiler";
import { openDatabase, type Database } from "@drover/control-plane/db";
import { expectError } from "../helpers/errors.js";
import { job, plan } from "../helpers/plans.js";
import { parseCsv } from "../audit/rfc4180.js";

const PROJECT_SECRET = `proj-${randomUUID()}-S3cr3t`;
const CONTEXT_SECRET = `ctx-${randomUUID()}-T0ps3cret`;
const SECRETS = [PROJECT_SECRET, CONTEXT_SECRET];

let db: Database;
let cp: ControlPlane;
let scheduler: InstantScheduler;
let project: Project;
let otherProject: Project;
let admin: string;
let member: { token: string; id: string; login: string };
let outsider: { token: string; id: string };
let nextPlan: PipelinePlan | undefined;
const logs: string[] = [];
/** Every response body except the claim's (the one channel meant to carry values). */
const responses: string[] = [];
/** Mutations made, with the audit action each must have recorded under its request id. */
const mutations: { requestId: string; action: string; what: string }[] = [];

interface Res {
  status: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- API bodies of many shapes
  body: any;
  text: string;
  headers: Headers;
}

async function call(
  method: string,
  path: string,
  opts: { token?: string; body?: unknown; cookie?: string; expect?: string; claim?: boolean } = {},
): Promise<Res> {
  const headers: Record<string, string> = {};
  if (opts.token) headers["circle-token"] = opts.token;
  // A browser sends its page's Origin with every write; cookie-authenticated writes need it.
  if (opts.cookie) Object.assign(headers, { cookie: opts.cookie, origin: new URL(cp.url).origin });
  if (opts.body !== undefined) headers["content-type"] = "application/json";
  const res = await fetch(new URL(path, cp.url), {
    method,
    headers,
    ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
  });
  const text = await res.text();
  if (!opts.claim) responses.push(text, JSON.stringify([...res.headers]));
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // CSV
  }
  if (opts.expect && res.status < 300) {
    mutations.push({
      requestId: res.headers.get("x-request-id") ?? "",
      action: opts.expect,
      what: `${method} ${path}`,
    });
  }
  return { status: res.status, body, text, headers: res.headers };
}

beforeAll(async () => {
  db = await openDatabase({});
  const logger = pino({ level: "debug" }, { write: (s: string) => void logs.push(s) });
  const store = await EmbeddedSecretStore.open({
    db,
    masterKey: Buffer.from(generateMasterKey(), "base64"),
    keyName: "drover",
  });
  const sessions = new SessionService({ db, logger, scrypt: { N: 2 ** 12, r: 8, p: 1 } });
  scheduler = new InstantScheduler();
  cp = await startControlPlane({
    config: serverConfigSchema.parse({
      port: 0,
      dataDir: mkdtempSync(join(tmpdir(), "drover-ctx-")),
      tickIntervalMs: 0,
      scheduleTickMs: 0,
    }),
    logger,
    db,
    scheduler,
    secrets: new ContextSecretsProvider({ db, store, logger }),
    compile: () => (nextPlan ? { plan: nextPlan, errors: [] } : { errors: [] }),
    routes: [
      (app, deps) => registerSecretsRoutes(app, { db: deps.db, store }),
      (app) => registerSessionRoutes(app, { sessions }),
    ],
  });
  admin = cp.bootstrapToken!;
  const org = `acme-${randomUUID().slice(0, 8)}`;
  project = await createProject(db, {
    slug: `gh/${org}/app`,
    repositoryUrl: "file:///nonexistent",
    defaultBranch: "main",
  });
  otherProject = await createProject(db, {
    slug: `gh/${org}/other`,
    repositoryUrl: "file:///nonexistent",
    defaultBranch: "main",
  });
  const login = `m-${randomUUID().slice(0, 8)}`;
  const m = await call("POST", "/api/v2/tokens", {
    token: admin,
    body: { login, role: "member", projects: [project.slug] },
  });
  member = { token: m.body.token, id: m.body.user.id, login };
  const o = await call("POST", "/api/v2/tokens", {
    token: admin,
    body: { login: `o-${randomUUID().slice(0, 8)}`, role: "member" },
  });
  outsider = { token: o.body.token, id: o.body.user.id };
});

afterAll(async () => {
  await cp?.close();
  await db?.close();
});

const envvar = (slug: string) => `/api/v2/project/${slug}/envvar`;

describe("project env vars", () => {
  it("stores encrypted values and shows only xxxx plus the last 4 characters", async () => {
    const created = await call("POST", envvar(project.slug), {
      token: member.token,
      body: { name: "DEPLOY_KEY", value: PROJECT_SECRET },
      expect: "project.env_var.create",
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: "DEPLOY_KEY",
      value: `xxxx${PROJECT_SECRET.slice(-4)}`,
    });
    expect(Date.parse(created.body.created_at)).not.toBeNaN();

    const short = await call("POST", envvar(project.slug), {
      token: member.token,
      body: { name: "SHORT", value: "abc12" },
      expect: "project.env_var.create",
    });
    expect(short.body.value).toBe("xxxx");

    const list = await call("GET", envvar(project.slug), { token: member.token });
    expect(list.body.items.map((i: { name: string }) => i.name)).toEqual(["DEPLOY_KEY", "SHORT"]);
    const one = await call("GET", `${envvar(project.slug)}/DEPLOY_KEY`, { token: member.token });
    expect(one.body.value).toBe(`xxxx${PROJECT_SECRET.slice(-4)}`);

    const { rows } = await db.query<{ ciphertext: string }>(
      "SELECT ciphertext FROM project_env_vars WHERE project_id = $1 AND name = 'DEPLOY_KEY'",
      [project.id],
    );
    expect(rows[0]!.ciphertext).toMatch(/^vault:v1:/);
  });

  it("rejects bad names and hides projects the caller cannot see", async () => {
    for (const name of ["1ABC", "A-B", "", "A B"]) {
      const r = await call("POST", envvar(project.slug), {
        token: member.token,
        body: { name, value: "whatever-value" },
      });
      expect([name, r.status, r.body.code]).toEqual([name, 400, "DROVER_ERR_CONTEXTS_INVALID"]);
    }
    const r = await call("POST", envvar(project.slug), {
      token: member.token,
      body: { name: "OK", value: 42 },
    });
    expectError(r, 400, "DROVER_ERR_CONTEXTS_INVALID");
    expectError(
      await call("GET", envvar(project.slug), { token: outsider.token }),
      404,
      "DROVER_ERR_CONTEXTS_NOT_FOUND",
    );
    expectError(
      await call("GET", envvar(otherProject.slug), { token: member.token }),
      404,
      "DROVER_ERR_CONTEXTS_NOT_FOUND",
    );
    expectError(
      await call("GET", `${envvar(project.slug)}/NOPE`, { token: member.token }),
      404,
      "DROVER_ERR_CONTEXTS_NOT_FOUND",
    );
  });

  it("deletes", async () => {
    const r = await call("DELETE", `${envvar(project.slug)}/SHORT`, {
      token: member.token,
      expect: "project.env_var.delete",
    });
    expect(r.body).toEqual({ message: "Environment variable deleted." });
    expectError(
      await call("DELETE", `${envvar(project.slug)}/SHORT`, { token: member.token }),
      404,
      "DROVER_ERR_CONTEXTS_NOT_FOUND",
    );
  });
});

describe("contexts", () => {
  let contextId: string;
  let restrictedId: string;
  let groupId: string;

  it("admins create contexts; members list them and store variables; names only come back", async () => {
    const orgSlug = project.slug.split("/").slice(0, 2).join("/");
    const denied = await call("POST", "/api/v2/context", {
      token: member.token,
      body: { name: "deploy", owner: { slug: orgSlug, type: "organization" } },
    });
    expectError(denied, 403, "DROVER_ERR_CONTEXTS_FORBIDDEN");
    const created = await call("POST", "/api/v2/context", {
      token: admin,
      body: { name: "deploy", owner: { slug: orgSlug, type: "organization" } },
      expect: "context.create",
    });
    expect(created.status).toBe(200);
    expect(created.body).toMatchObject({ name: "deploy" });
    contextId = created.body.id;
    const dup = await call("POST", "/api/v2/context", {
      token: admin,
      body: { name: "deploy", owner: { slug: orgSlug } },
    });
    expectError(dup, 409, "DROVER_ERR_CONTEXTS_CONFLICT");

    const orgId = (
      await db.query<{ org_id: string }>("SELECT org_id FROM projects WHERE id = $1", [project.id])
    ).rows[0]!.org_id;
    const list = await call("GET", `/api/v2/context?owner-id=${orgId}`, { token: member.token });
    expect(list.body.items.map((c: { name: string }) => c.name)).toEqual(["deploy"]);
    expectError(
      await call("GET", `/api/v2/context?owner-id=${orgId}`, { token: outsider.token }),
      404,
      "DROVER_ERR_CONTEXTS_NOT_FOUND",
    );
    expect(
      (await call("GET", `/api/v2/context/${contextId}`, { token: member.token })).body.name,
    ).toBe("deploy");

    const put = await call("PUT", `/api/v2/context/${contextId}/environment-variable/CTX_TOKEN`, {
      token: member.token,
      body: { value: CONTEXT_SECRET },
      expect: "context.env_var.store",
    });
    expect(put.status).toBe(200);
    expect(put.body).toMatchObject({ variable: "CTX_TOKEN", context_id: contextId });
    await call("PUT", `/api/v2/context/${contextId}/environment-variable/TEMP`, {
      token: member.token,
      body: { value: "temporary-value" },
      expect: "context.env_var.store",
    });
    const names = await call("GET", `/api/v2/context/${contextId}/environment-variable`, {
      token: member.token,
    });
    expect(names.body.items.map((v: { variable: string }) => v.variable)).toEqual([
      "CTX_TOKEN",
      "TEMP",
    ]);
    expect(names.text).not.toContain("value");
    const bad = await call("PUT", `/api/v2/context/${contextId}/environment-variable/9X`, {
      token: member.token,
      body: { value: "v" },
    });
    expectError(bad, 400, "DROVER_ERR_CONTEXTS_INVALID");
    const del = await call("DELETE", `/api/v2/context/${contextId}/environment-variable/TEMP`, {
      token: member.token,
      expect: "context.env_var.delete",
    });
    expect(del.body).toEqual({ message: "Environment variable deleted." });
  });

  it("group restrictions keep members out until an admin adds them to the group", async () => {
    const orgSlug = project.slug.split("/").slice(0, 2).join("/");
    const ctx = await call("POST", "/api/v2/context", {
      token: admin,
      body: { name: "production", owner: { slug: orgSlug } },
      expect: "context.create",
    });
    restrictedId = ctx.body.id;
    const group = await call("POST", "/api/v2/admin/groups", {
      token: admin,
      body: { name: "deployers", owner: { slug: orgSlug } },
      expect: "user_group.create",
    });
    expect(group.status).toBe(201);
    groupId = group.body.id;
    const restriction = await call("POST", `/api/v2/context/${restrictedId}/restrictions`, {
      token: admin,
      body: { restriction_type: "group", restriction_value: groupId },
      expect: "context.restriction.create",
    });
    expect(restriction.status).toBe(201);
    expect(restriction.body).toMatchObject({ restriction_type: "group", name: "deployers" });

    const refused = await call("PUT", `/api/v2/context/${restrictedId}/environment-variable/PROD`, {
      token: member.token,
      body: { value: CONTEXT_SECRET },
    });
    expectError(refused, 403, "DROVER_ERR_CONTEXTS_FORBIDDEN");
    await call("PUT", `/api/v2/admin/groups/${groupId}/members/${member.id}`, {
      token: admin,
      expect: "user_group.member.add",
    });
    const allowed = await call("PUT", `/api/v2/context/${restrictedId}/environment-variable/PROD`, {
      token: member.token,
      body: { value: CONTEXT_SECRET },
      expect: "context.env_var.store",
    });
    expect(allowed.status).toBe(200);
    const listed = await call("GET", `/api/v2/context/${restrictedId}/restrictions`, {
      token: member.token,
    });
    expect(listed.body.items).toHaveLength(1);
  });

  it("a job whose user is not in the context's group gets no secrets", async () => {
    await call("DELETE", `/api/v2/admin/groups/${groupId}/members/${member.id}`, {
      token: admin,
      expect: "user_group.member.remove",
    });
    const provider = new ContextSecretsProvider({ db, store: undefined as never });
    const access = await provider.checkAccess({
      orgId: project.orgId,
      projectId: project.id,
      contexts: ["deploy", "production"],
      userId: member.id,
    });
    expect(access).toMatchObject({
      allowed: false,
      context: "production",
      code: "DROVER_ERR_CONTEXT_UNAUTHORIZED",
    });
    expect(
      await provider.checkAccess({
        orgId: project.orgId,
        projectId: project.id,
        contexts: ["deploy"],
        userId: member.id,
      }),
    ).toEqual({ allowed: true });

    nextPlan = plan({ name: "wf", jobs: [job("ship", { contexts: ["production"] })] });
    const pipeline = await cp.trigger.trigger({
      project,
      triggerType: "api",
      actorId: member.id,
      branch: "main",
      revision: "0123456789abcdef0123456789abcdef01234567",
      configSource: "version: 2.1",
    });
    await cp.engine.idle();
    // Refused before scheduling: the job ends `unauthorized` and no task reaches the backend.
    const workflows = await call("GET", `/api/v2/pipeline/${pipeline.id}/workflow`, {
      token: admin,
    });
    expect(workflows.status).toBe(200);
    expect(workflows.body.items).toHaveLength(1);
    const jobs = await call("GET", `/api/v2/workflow/${workflows.body.items[0].id}/job`, {
      token: admin,
    });
    expect(jobs.body.items).toMatchObject([{ name: "ship", status: "unauthorized" }]);
    expect([...scheduler.submitted.values()].some((p) => p.pipeline.id === pipeline.id)).toBe(
      false,
    );
  });

  it("releases project and context values only in the claim response, and audits the access", async () => {
    nextPlan = plan({ name: "wf", jobs: [job("deploy", { contexts: ["deploy"] })] });
    const pipeline = await cp.trigger.trigger({
      project,
      triggerType: "api",
      actorId: member.id,
      branch: "main",
      revision: "0123456789abcdef0123456789abcdef01234567",
      configSource: "version: 2.1",
    });
    await cp.engine.idle();
    const t = [...scheduler.submitted.values()].find((p) => p.pipeline.id === pipeline.id)!;
    expect(JSON.stringify(t)).not.toContain(PROJECT_SECRET);
    const claim = await call("POST", "/internal/v1/tasks/claim", {
      body: { token: t.taskToken },
      claim: true,
    });
    expect(claim.status).toBe(200);
    expect(claim.body.task.environment.project).toEqual({ DEPLOY_KEY: PROJECT_SECRET });
    expect(claim.body.task.environment.contexts).toEqual({ CTX_TOKEN: CONTEXT_SECRET });
    expect(claim.body.task.secrets.sort()).toEqual([...SECRETS].sort());

    const audit = await call("GET", "/api/v2/admin/audit-log?action=context.secrets.accessed", {
      token: admin,
    });
    const accessed = audit.body.items.find(
      (e: { payload: { task_id: string } }) => e.payload.task_id === t.taskId,
    );
    expect(accessed).toMatchObject({
      actor: { id: member.id, type: "user", name: member.login },
      target: { id: contextId, type: "context", name: "deploy" },
      payload: { env_var_names: ["CTX_TOKEN"] },
    });
  });

  it("deletes restrictions and contexts", async () => {
    const listed = await call("GET", `/api/v2/context/${restrictedId}/restrictions`, {
      token: admin,
    });
    const rid = listed.body.items[0].id;
    const r = await call("DELETE", `/api/v2/context/${restrictedId}/restrictions/${rid}`, {
      token: admin,
      expect: "context.restriction.delete",
    });
    expect(r.status).toBe(200);
    expectError(
      await call("DELETE", `/api/v2/context/${restrictedId}`, { token: member.token }),
      403,
      "DROVER_ERR_CONTEXTS_FORBIDDEN",
    );
    const d = await call("DELETE", `/api/v2/context/${restrictedId}`, {
      token: admin,
      expect: "context.delete",
    });
    expect(d.body).toEqual({ message: "Context deleted." });
    expectError(
      await call("GET", `/api/v2/context/${restrictedId}`, { token: admin }),
      404,
      "DROVER_ERR_CONTEXTS_NOT_FOUND",
    );
  });
});

describe("users and sessions", () => {
  it("creates a local user, logs in with an HttpOnly Secure SameSite cookie, and logs out", async () => {
    const login = `u-${randomUUID().slice(0, 8)}`;
    const password = "correct horse battery staple";
    expectError(
      await call("POST", "/api/v2/admin/users", {
        token: member.token,
        body: { login, password },
      }),
      403,
      "DROVER_ERR_USERS_FORBIDDEN",
    );
    expectError(
      await call("POST", "/api/v2/admin/users", {
        token: admin,
        body: { login, password: "short" },
      }),
      400,
      "DROVER_ERR_USERS_INVALID",
    );
    const created = await call("POST", "/api/v2/admin/users", {
      token: admin,
      body: { login, name: "Una User", role: "member", password },
      expect: "user.create",
    });
    expect(created.status).toBe(201);
    const { rows } = await db.query<{ hash: string }>(
      "SELECT hash FROM user_passwords WHERE user_id = $1",
      [created.body.id],
    );
    expect(rows[0]!.hash).toMatch(/^scrypt\$\d+\$8\$1\$[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+$/);
    expect(rows[0]!.hash).not.toContain(password);

    const wrong = await call("POST", "/api/v2/auth/login", {
      body: { login, password: "not the password" },
    });
    expectError(wrong, 401, "DROVER_ERR_UNAUTHENTICATED");
    expect(wrong.headers.get("set-cookie")).toBeNull();
    const nobody = await call("POST", "/api/v2/auth/login", {
      body: { login: "nobody-here", password },
    });
    expectError(nobody, 401, "DROVER_ERR_UNAUTHENTICATED");

    const ok = await call("POST", "/api/v2/auth/login", {
      body: { login, password },
      expect: "user.logged_in",
    });
    expect(ok.status).toBe(200);
    const cookie = ok.headers.get("set-cookie")!;
    expect(cookie).toMatch(/^drover_session=[A-Za-z0-9_-]{43};/);
    for (const attr of ["HttpOnly", "Secure", "SameSite=Lax", "Path=/"])
      expect(cookie).toContain(attr);
    const pair = cookie.split(";")[0]!;
    const who = await call("GET", "/api/v2/auth/session", { cookie: pair });
    expect(who.body.user).toMatchObject({ login, name: "Una User", role: "member" });

    const out = await call("POST", "/api/v2/auth/logout", {
      cookie: pair,
      expect: "user.logged_out",
    });
    expect(out.headers.get("set-cookie")).toContain("Max-Age=0");
    expectError(
      await call("GET", "/api/v2/auth/session", { cookie: pair }),
      401,
      "DROVER_ERR_UNAUTHENTICATED",
    );

    const failures = await call(
      "GET",
      `/api/v2/admin/audit-log?action=user.logged_in&actor-id=${created.body.id}`,
      { token: admin },
    );
    expect(failures.body.items.map((e: { success: boolean }) => e.success)).toEqual([true, false]);
  });
});

describe("audit log API", () => {
  it("is for admins only", async () => {
    expectError(
      await call("GET", "/api/v2/admin/audit-log", { token: member.token }),
      403,
      "DROVER_ERR_AUDIT_FORBIDDEN",
    );
    expectError(
      await call("GET", "/api/v2/admin/audit-log.csv", { token: member.token }),
      403,
      "DROVER_ERR_AUDIT_FORBIDDEN",
    );
    expectError(
      await call("GET", "/api/v2/admin/audit-log?limit=0", { token: admin }),
      400,
      "DROVER_ERR_AUDIT_INVALID",
    );
    expectError(
      await call("GET", "/api/v2/admin/audit-log?start=yesterday", { token: admin }),
      400,
      "DROVER_ERR_AUDIT_INVALID",
    );
  });

  it("every mutating endpoint recorded its event under its request id", async () => {
    const all = [];
    let token: string | null = null;
    do {
      const page: Res = await call(
        "GET",
        `/api/v2/admin/audit-log?limit=50${token ? `&page-token=${token}` : ""}`,
        { token: admin },
      );
      all.push(...page.body.items);
      token = page.body.next_page_token;
    } while (token);
    const expectedActions = new Set([
      "project.env_var.create",
      "project.env_var.delete",
      "context.create",
      "context.delete",
      "context.env_var.store",
      "context.env_var.delete",
      "context.restriction.create",
      "context.restriction.delete",
      "user_group.create",
      "user_group.member.add",
      "user_group.member.remove",
      "user.create",
      "user.logged_in",
      "user.logged_out",
    ]);
    expect(new Set(mutations.map((m) => m.action))).toEqual(expectedActions);
    for (const m of mutations) {
      const hit = all.find((e: { request: { id: string } }) => e.request.id === m.requestId);
      expect(hit?.action, m.what).toBe(m.action);
    }
  });

  it("downloads CSV that parses back into the API's records", async () => {
    const csv = await call("GET", "/api/v2/admin/audit-log.csv", { token: admin });
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(csv.headers.get("content-disposition")).toMatch(
      /attachment; filename="drover-audit-log-/,
    );
    const [header, ...rows] = parseCsv(csv.text);
    const fromCsv = rows.map((r) => {
      const o = Object.fromEntries(header!.map((h, i) => [h, r[i]!]));
      const nested = ["actor", "target", "scope", "payload", "metadata", "request", "success"];
      for (const k of nested) o[k] = JSON.parse(o[k] as string);
      o.version = Number(o.version);
      return o;
    });
    const api = await call("GET", "/api/v2/admin/audit-log?order=asc&limit=1000", { token: admin });
    expect(fromCsv).toEqual(api.body.items);
  });
});

describe("no secret leaks", () => {
  it("no API response, log line or task plan holds a secret or its base64", () => {
    const haystacks = {
      responses: responses.join("\n"),
      logs: logs.join(""),
      plans: JSON.stringify([...scheduler.submitted.values()]),
    };
    expect(logs.length).toBeGreaterThan(0);
    for (const secret of SECRETS) {
      const forms = [secret, Buffer.from(secret).toString("base64"), encodeURIComponent(secret)];
      for (const [where, text] of Object.entries(haystacks)) {
        for (const form of forms) expect(text.includes(form), `${where} holds ${form}`).toBe(false);
      }
    }
  });
});
