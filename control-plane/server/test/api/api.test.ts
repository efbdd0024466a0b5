import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { API_BODY_LIMIT, InstantScheduler, type ControlPlane } from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import type { DroverClient } from "@drover/cli";
import { testDatabases } from "../helpers/databases.js";
import { expectError } from "../helpers/errors.js";
import {
  CONFIG,
  commitFiles,
  ed25519Key,
  http,
  makeRepo,
  startTestServer,
} from "../helpers/server.js";

const dbs = await testDatabases();

describe.each(dbs)("API v2 ($name)", ({ open }) => {
  let db: Database;
  let cp: ControlPlane;
  let admin: DroverClient;
  let adminToken: string;
  let scheduler: InstantScheduler;
  const repo = makeRepo({ ".circleci/config.yml": CONFIG, "README.md": "hi" });
  const slug = `gh/acme/${randomUUID().slice(0, 8)}`;
  let url: string;

  beforeAll(async () => {
    db = await open();
    scheduler = new InstantScheduler();
    const started = await startTestServer(db, scheduler);
    cp = started.cp;
    admin = started.admin;
    url = cp.url;
    adminToken = cp.bootstrapToken ?? "";
    await admin.addProject({ slug, repository_url: repo.url });
  });
  afterAll(async () => {
    await cp.close();
    await db.close();
  });

  it("authenticates with Circle-Token or Bearer and 401s otherwise", async () => {
    expectError(await http(url, "GET", "/api/v2/me"), 401, "DROVER_ERR_UNAUTHENTICATED");
    expectError(
      await http(url, "GET", "/api/v2/me", { token: "drv_nope" }),
      401,
      "DROVER_ERR_UNAUTHENTICATED",
    );
    const me = await http(url, "GET", "/api/v2/me", { bearer: adminToken });
    expect(me.status).toBe(200);
    expect(me.body).toMatchObject({ login: "admin", role: "admin" });
    expect(me.headers.get("x-request-id")).toBeTruthy();
    expect((await http(url, "GET", "/api/v2/me", { token: adminToken })).body.login).toBe("admin");
    expect((await http(url, "GET", "/healthz")).status).toBe(200);
  });

  it("stores tokens hashed and scopes members to their projects", async () => {
    const { rows } = await db.query<{ token_hash: string }>("SELECT token_hash FROM api_tokens");
    expect(
      rows.every((r) => /^[0-9a-f]{64}$/.test(r.token_hash) && r.token_hash !== adminToken),
    ).toBe(true);
    const other = `gh/acme/other-${randomUUID().slice(0, 8)}`;
    await admin.addProject({ slug: other, repository_url: repo.url });
    const login = `dev-${randomUUID().slice(0, 8)}`;
    const { token } = await admin.createToken({ login, projects: [slug] });
    expect((await http(url, "GET", `/api/v2/project/${slug}`, { token })).status).toBe(200);
    expectError(
      await http(url, "GET", `/api/v2/project/${other}`, { token }),
      404,
      "DROVER_ERR_NOT_FOUND",
    );
    expectError(
      await http(url, "GET", `/api/v2/project/${other}/pipeline`, { token }),
      404,
      "DROVER_ERR_NOT_FOUND",
    );
    expectError(
      await http(url, "POST", `/api/v2/project/${other}/pipeline`, { token, body: {} }),
      404,
      "DROVER_ERR_NOT_FOUND",
    );
    const list = await http(url, "GET", "/api/v2/project", { token });
    expect(list.body.items.map((p: { slug: string }) => p.slug)).toEqual([slug]);
    const create = await http(url, "POST", "/api/v2/project", {
      token,
      body: { slug: "gh/x/y", repository_url: repo.url },
    });
    expectError(create, 403, "DROVER_ERR_FORBIDDEN");
    expectError(
      await http(url, "POST", "/api/v2/tokens", { token, body: { login: "someone" } }),
      403,
      "DROVER_ERR_FORBIDDEN",
    );
    const own = await http(url, "POST", "/api/v2/tokens", { token, body: { label: "laptop" } });
    expect(own.status).toBe(201);
    expect((await http(url, "GET", "/api/v2/me", { token: own.body.token })).body.login).toBe(
      login,
    );
    const pipe = await http(url, "POST", `/api/v2/project/${slug}/pipeline`, {
      token,
      body: { branch: "main" },
    });
    expect(pipe.status).toBe(201);
    expect((await http(url, "GET", `/api/v2/pipeline/${pipe.body.id}`, { token })).status).toBe(
      200,
    );
    const { token: outsider } = await admin.createToken({
      login: `out-${randomUUID().slice(0, 8)}`,
    });
    expectError(
      await http(url, "GET", `/api/v2/pipeline/${pipe.body.id}`, { token: outsider }),
      404,
      "DROVER_ERR_NOT_FOUND",
    );
  });

  it("triggers a pipeline from the repository and exposes CircleCI shapes", async () => {
    const res = await http(url, "POST", `/api/v2/project/${slug}/pipeline`, {
      token: adminToken,
      body: { branch: "main" },
    });
    expect(res.status).toBe(201);
    expect(Object.keys(res.body).sort()).toEqual(["created_at", "id", "number", "state"]);
    expect(res.body.state).toBe("created");
    const p = await http(url, "GET", `/api/v2/pipeline/${res.body.id}`, { token: adminToken });
    expect(p.body).toMatchObject({
      id: res.body.id,
      number: res.body.number,
      project_slug: slug,
      state: "created",
      errors: [],
      trigger: { type: "api", actor: { login: "admin" } },
      vcs: {
        branch: "main",
        revision: repo.head,
        provider_name: "GitHub",
        target_repository_url: repo.url,
      },
    });
    expect(p.body.vcs.commit.subject).toBe("initial commit");
    const cfg = await http(url, "GET", `/api/v2/pipeline/${res.body.id}/config`, {
      token: adminToken,
    });
    expect(cfg.body.source).toBe(CONFIG);
    const wfs = await http(url, "GET", `/api/v2/pipeline/${res.body.id}/workflow`, {
      token: adminToken,
    });
    expect(wfs.body.next_page_token).toBeNull();
    expect(wfs.body.items).toHaveLength(1);
    const wf = wfs.body.items[0];
    expect(wf).toMatchObject({
      name: "main",
      status: "running",
      pipeline_id: res.body.id,
      project_slug: slug,
    });
    const jobs = await http(url, "GET", `/api/v2/workflow/${wf.id}/job`, { token: adminToken });
    const [build, test] = jobs.body.items;
    expect(build).toMatchObject({
      name: "build",
      type: "build",
      status: "queued",
      dependencies: [],
    });
    expect(test).toMatchObject({ name: "test", status: "blocked", dependencies: [build.id] });
    const detail = await http(url, "GET", `/api/v2/project/${slug}/job/${build.job_number}`, {
      token: adminToken,
    });
    expect(detail.body).toMatchObject({
      name: "build",
      number: build.job_number,
      status: "queued",
      parallelism: 1,
      pipeline: { id: res.body.id },
      latest_workflow: { id: wf.id, name: "main" },
      executor: { type: "docker", resource_class: "medium" },
      project: { slug },
    });
    expectError(
      await http(url, "GET", `/api/v2/project/${slug}/job/999999`, { token: adminToken }),
      404,
      "DROVER_ERR_NOT_FOUND",
    );
  });

  it("plays a task through claim and events over HTTP", async () => {
    const res = await admin.trigger(slug, { branch: "main" });
    const wf = (await admin.pipelineWorkflows(res.id)).items[0];
    const plans = await scheduler.waitFor((all) => all.some((t) => t.pipeline.id === res.id));
    const t = plans.find((x) => x.pipeline.id === res.id);
    expect(t?.controlPlaneUrl).toBe(url);
    const claim = await http(url, "POST", "/internal/v1/tasks/claim", {
      body: { token: t?.taskToken },
    });
    expect(claim.status).toBe(200);
    expect(claim.body.task).toMatchObject({
      job: { name: "build" },
      project: { slug, gitUrl: repo.url },
    });
    expect(claim.body.task.pipeline.revision).toBe(repo.head);
    // The job's start is audited with the claim's request id.
    const started = await db.query<{ request_id: string | null }>(
      `SELECT request_id FROM audit_events WHERE action = 'workflow.job.start' AND target->>'id' = $1`,
      [t?.job.id],
    );
    expect(started.rows.map((r) => r.request_id)).toEqual([claim.headers.get("x-request-id")]);
    expectError(
      await http(url, "POST", "/internal/v1/tasks/claim", { body: { token: t?.taskToken } }),
      401,
      "DROVER_ERR_TASK_TOKEN",
    );
    expectError(
      await http(url, "POST", "/internal/v1/tasks/claim", { body: {} }),
      400,
      "DROVER_ERR_VALIDATION",
    );
    const events = `/internal/v1/tasks/${t?.taskId}/events`;
    const at = new Date().toISOString();
    expectError(
      await http(url, "POST", events, { bearer: "dts_wrong", body: { events: [] } }),
      401,
      "DROVER_ERR_TASK_SESSION",
    );
    const bad = await http(url, "POST", events, {
      bearer: claim.body.session,
      body: { events: [{ type: "nope" }] },
    });
    expectError(bad, 400, "DROVER_ERR_VALIDATION");
    const art = await http(
      url,
      "PUT",
      `/internal/v1/tasks/${t?.taskId}/artifacts?path=out/report.txt`,
      {
        bearer: claim.body.session,
        raw: "report body",
        headers: { "content-type": "application/octet-stream" },
      },
    );
    expect(art.status).toBe(201);
    const listed = await http(url, "GET", `/api/v2/project/${slug}/${t?.job.number}/artifacts`, {
      token: adminToken,
    });
    expect(listed.status).toBe(200);
    expect(JSON.stringify(listed.body)).toContain("out/report.txt");
    const ok = await http(url, "POST", events, {
      bearer: claim.body.session,
      body: {
        events: [
          { type: "step_started", step: 0, name: "echo building", at },
          { type: "step_finished", step: 0, status: "success", exitCode: 0, durationMs: 3, at },
          { type: "task_finished", result: "success", at },
        ],
      },
    });
    expect(ok.status).toBe(204);
    expectError(
      await http(url, "POST", events, { bearer: claim.body.session, body: { events: [] } }),
      401,
      "DROVER_ERR_TASK_SESSION",
    );
    const jobs = await admin.workflowJobs(wf?.id ?? "");
    expect(jobs.items.map((j) => [j.name, j.status])).toEqual([
      ["build", "success"],
      ["test", "queued"],
    ]);
    const detail = await admin.job(slug, jobs.items[0]?.job_number ?? 0);
    expect(detail.steps[0]?.steps[0]).toMatchObject({
      name: "echo building",
      status: "success",
      exit_code: 0,
    });
  });

  it("makes an errored pipeline with file:line for a config that does not compile", async () => {
    const res = await admin.trigger(slug, {
      config:
        "version: 2.1\njobs:\n  a:\n    docker: [{image: x}]\n    steps: [{bogus: 1}]\nworkflows: {w: {jobs: [a]}}\n",
      revision: repo.head,
    });
    expect(res.state).toBe("errored");
    const p = await admin.pipeline(res.id);
    expect(p.errors.length).toBeGreaterThan(0);
    expect(p.errors[0]).toMatchObject({ type: "config" });
    expect(p.errors[0]?.message).toMatch(/^\.circleci\/config\.yml:5:\d+: unknown step 'bogus'/);
    expect((await admin.pipelineWorkflows(res.id)).items).toEqual([]);
    const missing = await admin.trigger(slug, { branch: "no-such-branch" });
    expect(missing.state).toBe("errored");
    expect((await admin.pipeline(missing.id)).errors[0]?.type).toBe("config-fetch");
  });

  it("rejects bad input with 400 listing fields, 404 for unknown ids, 413 over the body limit, 415", async () => {
    const bad = await http(url, "POST", `/api/v2/project/${slug}/pipeline`, {
      token: adminToken,
      body: { branch: 5, bogus: true, parameters: { x: { y: 1 } } },
    });
    expectError(bad, 400, "DROVER_ERR_VALIDATION");
    const fields = bad.body.errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(expect.arrayContaining(["branch", "parameters.x"]));
    expect(JSON.stringify(bad.body.errors)).toContain("bogus");
    const both = await http(url, "POST", `/api/v2/project/${slug}/pipeline`, {
      token: adminToken,
      body: { branch: "a", tag: "b" },
    });
    expectError(both, 400, "DROVER_ERR_VALIDATION");
    expectError(
      await http(url, "POST", `/api/v2/project/${slug}/pipeline`, {
        token: adminToken,
        raw: "{nope",
      }),
      400,
      "DROVER_ERR_VALIDATION",
    );
    for (const path of [
      `/api/v2/pipeline/${randomUUID()}`,
      "/api/v2/pipeline/not-a-uuid",
      `/api/v2/workflow/${randomUUID()}`,
      `/api/v2/workflow/${randomUUID()}/job`,
      "/api/v2/project/gh/nobody/nothing/pipeline",
      `/api/v2/schedule/${randomUUID()}`,
    ]) {
      const r = await http(url, "GET", path, { token: adminToken });
      expect([path, r.status, r.body.code]).toEqual([path, 404, "DROVER_ERR_NOT_FOUND"]);
      expect(r.body.message).toBeTruthy();
    }
    const big = await http(url, "POST", `/api/v2/project/${slug}/pipeline`, {
      token: adminToken,
      raw: JSON.stringify({ branch: "main", config: "x".repeat(API_BODY_LIMIT + 10) }),
    });
    expectError(big, 413, "DROVER_ERR_BODY_TOO_LARGE");
    const xml = await http(url, "POST", `/api/v2/project/${slug}/pipeline`, {
      token: adminToken,
      raw: "<branch>main</branch>",
      headers: { "content-type": "application/xml" },
    });
    expectError(xml, 415, "DROVER_ERR_MEDIA_TYPE");
  });

  it("paginates pipelines with next_page_token", async () => {
    const pslug = `gh/acme/pages-${randomUUID().slice(0, 8)}`;
    await admin.addProject({ slug: pslug, repository_url: repo.url });
    for (let i = 0; i < 23; i++)
      await admin.trigger(pslug, { config: CONFIG, revision: repo.head, branch: "main" });
    const first = await admin.listPipelines(pslug);
    expect(first.items).toHaveLength(20);
    expect(first.items[0]?.number).toBe(23);
    expect(first.next_page_token).toBeTruthy();
    const second = await admin.listPipelines(pslug, first.next_page_token ?? "");
    expect(second.items.map((p) => p.number)).toEqual([3, 2, 1]);
    expect(second.next_page_token).toBeNull();
    expectError(
      await http(url, "GET", `/api/v2/project/${pslug}/pipeline?page-token=%%%`, {
        token: adminToken,
      }),
      400,
      "DROVER_ERR_VALIDATION",
    );
    const recent = await http(url, "GET", "/api/v2/pipeline?org-slug=gh/acme&mine=true", {
      token: adminToken,
    });
    expect(recent.status).toBe(200);
    expect(recent.body.items).toHaveLength(20);
    expect(recent.body.items[0].project_slug).toBe(pslug);
    const recent2 = await http(
      url,
      "GET",
      `/api/v2/pipeline?org-slug=gh/acme&page-token=${recent.body.next_page_token}`,
      { token: adminToken },
    );
    expect(recent2.body.items[0].number).toBe(3);
    expectError(
      await http(url, "GET", "/api/v2/pipeline?org-slug=nope", { token: adminToken }),
      400,
      "DROVER_ERR_VALIDATION",
    );
    const byNumber = await http(url, "GET", `/api/v2/project/${pslug}/pipeline/7`, {
      token: adminToken,
    });
    expect(byNumber.body.number).toBe(7);
  });

  it("cancels, approves and reruns workflows with CircleCI's rules", async () => {
    const cfg = `version: 2.1
jobs:
  build: {docker: [{image: drover/debian:bookworm}], steps: [{run: "true"}]}
workflows:
  w:
    jobs:
      - hold: {type: approval}
      - build: {requires: [hold]}
`;
    const res = await admin.trigger(slug, { config: cfg, revision: repo.head, branch: "main" });
    const wf = (await admin.pipelineWorkflows(res.id)).items[0];
    expect(wf?.status).toBe("on_hold");
    const jobs = await admin.workflowJobs(wf?.id ?? "");
    const hold = jobs.items.find((j) => j.name === "hold");
    expect(hold?.approval_request_id).toBe(hold?.id);
    const rerunEarly = await http(url, "POST", `/api/v2/workflow/${wf?.id}/rerun`, {
      token: adminToken,
      body: {},
    });
    expectError(rerunEarly, 409, "DROVER_ERR_INVALID_STATE");
    const approve = await http(url, "POST", `/api/v2/workflow/${wf?.id}/approve/${hold?.id}`, {
      token: adminToken,
    });
    expect(approve.status).toBe(202);
    expectError(
      await http(url, "POST", `/api/v2/workflow/${wf?.id}/approve/${randomUUID()}`, {
        token: adminToken,
      }),
      404,
      "DROVER_ERR_NOT_FOUND",
    );
    expect((await admin.workflow(wf?.id ?? "")).status).toBe("running");
    const cancel = await http(url, "POST", `/api/v2/workflow/${wf?.id}/cancel`, {
      token: adminToken,
    });
    expect(cancel.status).toBe(202);
    expect((await admin.workflow(wf?.id ?? "")).status).toBe("canceled");
    const build = (await admin.workflowJobs(wf?.id ?? "")).items.find((j) => j.name === "build");
    for (const [body, field] of [
      [{ enable_ssh: true }, "jobs"],
      [{ from_failed: true, jobs: [build?.id] }, "from_failed"],
      [{ jobs: ["not-a-uuid"] }, "jobs.0"],
      [{ sparse_tree: true }, "jobs"],
    ] as const) {
      const r = await http(url, "POST", `/api/v2/workflow/${wf?.id}/rerun`, {
        token: adminToken,
        body,
      });
      expectError(r, 400, "DROVER_ERR_VALIDATION");
      expect(r.body.errors.map((e: { field: string }) => e.field)).toContain(field);
    }
    const { token: keyless } = await admin.createToken({
      login: `nokey-${randomUUID().slice(0, 6)}`,
      projects: [slug],
    });
    const noKey = await http(url, "POST", `/api/v2/workflow/${wf?.id}/rerun`, {
      token: keyless,
      body: { enable_ssh: true, jobs: [build?.id] },
    });
    expectError(noKey, 400, "DROVER_ERR_VALIDATION");
    expect(noKey.body.errors[0].field).toBe("enable_ssh");
    const key = await http(url, "POST", "/api/v2/me/ssh-keys", {
      token: adminToken,
      body: { public_key: ed25519Key("rerun") },
    });
    expect([201, 409]).toContain(key.status);
    const rerun = await http(url, "POST", `/api/v2/workflow/${wf?.id}/rerun`, {
      token: adminToken,
      body: { enable_ssh: true, jobs: [build?.id] },
    });
    expect(rerun.status).toBe(202);
    expect(Object.keys(rerun.body)).toEqual(["workflow_id"]);
    const rerunJobs = await admin.workflowJobs(rerun.body.workflow_id);
    expect(rerunJobs.items).toEqual([
      expect.objectContaining({ name: "build", status: "queued", enable_ssh: true }),
    ]);
    const wfs = await admin.pipelineWorkflows(res.id);
    expect(wfs.items.map((w) => w.id)).toEqual([wf?.id, rerun.body.workflow_id]);
    const number = rerunJobs.items[0]?.job_number;
    expect(
      (
        await http(url, "POST", `/api/v2/project/${slug}/job/${number}/cancel`, {
          token: adminToken,
        })
      ).status,
    ).toBe(202);
    expect((await admin.workflow(rerun.body.workflow_id)).status).toBe("canceled");
  });

  it("manages the user's SSH public keys with validation", async () => {
    const key = ed25519Key();
    const add = await http(url, "POST", "/api/v2/me/ssh-keys", {
      token: adminToken,
      body: { public_key: key },
    });
    expect(add.status).toBe(201);
    expect(add.body.fingerprint).toMatch(/^SHA256:[A-Za-z0-9+/]{43}$/);
    expect(add.body.title).toBe("me@laptop");
    expectError(
      await http(url, "POST", "/api/v2/me/ssh-keys", {
        token: adminToken,
        body: { public_key: key },
      }),
      409,
      "DROVER_ERR_CONFLICT",
    );
    for (const bad of [
      "ssh-ed25519",
      "ssh-dss AAAAB3NzaC1kc3MAAACBAP",
      "ssh-ed25519 AAAAC3NzaC1yc2EAAAADAQAB",
      "ssh-ed25519 !!!",
    ]) {
      const r = await http(url, "POST", "/api/v2/me/ssh-keys", {
        token: adminToken,
        body: { public_key: bad },
      });
      expectError(r, 400, "DROVER_ERR_VALIDATION");
      expect(r.body.errors[0].field).toBe("public_key");
    }
    const list = await http(url, "GET", "/api/v2/me/ssh-keys", { token: adminToken });
    expect(list.body.items.map((k: { id: string }) => k.id)).toContain(add.body.id);
    expect(
      (await http(url, "DELETE", `/api/v2/me/ssh-keys/${add.body.id}`, { token: adminToken }))
        .status,
    ).toBe(204);
    expectError(
      await http(url, "DELETE", `/api/v2/me/ssh-keys/${add.body.id}`, { token: adminToken }),
      404,
      "DROVER_ERR_NOT_FOUND",
    );
  });

  it("creates, reads, updates and deletes schedules", async () => {
    const base = `/api/v2/project/${slug}/schedule`;
    const body = {
      name: `nightly-${randomUUID().slice(0, 6)}`,
      description: "every night",
      "attribution-actor": "current",
      parameters: { branch: "main" },
      timetable: { "per-hour": 2, "hours-of-day": [3], "days-of-week": ["MON", "TUE"] },
    };
    const created = await http(url, "POST", base, { token: adminToken, body });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({
      name: body.name,
      "project-slug": slug,
      timetable: body.timetable,
      parameters: { branch: "main" },
      actor: { login: "admin" },
    });
    expectError(
      await http(url, "POST", base, { token: adminToken, body }),
      409,
      "DROVER_ERR_CONFLICT",
    );
    const invalid = await http(url, "POST", base, {
      token: adminToken,
      body: {
        ...body,
        name: "x",
        parameters: {},
        timetable: { "per-hour": 0, "hours-of-day": [25] },
      },
    });
    expectError(invalid, 400, "DROVER_ERR_VALIDATION");
    const fields = invalid.body.errors.map((e: { field: string }) => e.field);
    expect(fields).toEqual(
      expect.arrayContaining(["parameters", "timetable.per-hour", "timetable.hours-of-day.0"]),
    );
    const id = created.body.id;
    const patched = await http(url, "PATCH", `/api/v2/schedule/${id}`, {
      token: adminToken,
      body: { "attribution-actor": "system", description: "changed" },
    });
    expect(patched.status).toBe(200);
    expect(patched.body).toMatchObject({
      description: "changed",
      actor: { login: "system-actor" },
    });
    expect((await http(url, "GET", base, { token: adminToken })).body.items.length).toBeGreaterThan(
      0,
    );
    expect(
      (await http(url, "DELETE", `/api/v2/schedule/${id}`, { token: adminToken })).status,
    ).toBe(200);
    const audited = await db.query<{ action: string }>(
      "SELECT action FROM audit_events WHERE target->>'id' = $1 ORDER BY occurred_at",
      [id],
    );
    expect(audited.rows.map((r) => r.action)).toEqual([
      "schedule.create",
      "schedule.update",
      "schedule.delete",
    ]);
    expectError(
      await http(url, "GET", `/api/v2/schedule/${id}`, { token: adminToken }),
      404,
      "DROVER_ERR_NOT_FOUND",
    );
  });

  it("builds new commits pushed to a branch", async () => {
    const head = commitFiles(repo.dir, { "file.txt": randomUUID() }, "second commit");
    const res = await admin.trigger(slug, { branch: "main" });
    const p = await admin.pipeline(res.id);
    expect(p.vcs.revision).toBe(head);
  });
});
