/**
 * CircleCI API routes that scripts and dashboards call (issue 17): `pipeline/run`,
 * `pipeline/mine`, `compile-config-with-defaults`, insights, checkout keys and env var paging,
 * with their errors; on PGlite and PostgreSQL.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  InstantScheduler,
  createSecretsModule,
  type ControlPlane,
  type SecretsModule,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import { testDatabases } from "../helpers/databases.js";
import { CONFIG, http, makeRepo, startTestServer } from "../helpers/server.js";

describe.each(await testDatabases())("CircleCI compatibility routes on $name", (tdb) => {
  let db: Database;
  let cp: ControlPlane;
  let secrets: SecretsModule;
  let scheduler: InstantScheduler;
  let admin: string;
  let keyDir = "";
  let member: string;
  const slug = `gh/compat/app-${randomUUID().slice(0, 8)}`;
  const call = (method: string, path: string, body?: unknown, token = admin) =>
    http(cp.url, method, path, { token, ...(body !== undefined ? { body } : {}) });

  /** Plays every submitted task of `job` in `workflowId` to `result`. */
  async function finish(workflowId: string, job: string, result: "success" | "failed") {
    await cp.engine.idle();
    for (const plan of scheduler.submitted.values()) {
      if (plan.workflow.id !== workflowId || plan.job.name !== job) continue;
      const claimed = await cp.tasks.claim(plan.taskToken).catch(() => null);
      if (!claimed) continue;
      await cp.tasks.events(plan.taskId, [
        { type: "task_finished", result, at: new Date().toISOString() },
      ]);
    }
    await cp.engine.idle();
  }

  beforeAll(async () => {
    db = await tdb.open();
    keyDir = mkdtempSync(join(tmpdir(), "drover-compat-"));
    secrets = await createSecretsModule({ db, env: {}, dataDir: keyDir });
    scheduler = new InstantScheduler();
    const started = await startTestServer(db, scheduler, { routes: secrets.routes });
    cp = started.cp;
    admin = started.cp.bootstrapToken ?? "";
    const repo = makeRepo({ ".circleci/config.yml": CONFIG });
    await started.admin.addProject({ slug, repository_url: repo.url });
    member = (
      await started.admin.createToken({ login: `m-${randomUUID().slice(0, 8)}`, projects: [slug] })
    ).token;
  });
  afterAll(async () => {
    await cp?.close();
    await secrets?.close();
    await db?.close();
    rmSync(keyDir, { recursive: true, force: true });
  });

  it("pipeline/run triggers on the classic path; bad bodies are 400s that say why", async () => {
    const project = (await call("GET", `/api/v2/project/${slug}`)).body as { id: string };
    const ok = await call("POST", `/api/v2/project/${slug}/pipeline/run`, {
      definition_id: project.id,
      config: { branch: "main" },
      checkout: { branch: "main" },
      parameters: {},
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({ state: "created", number: expect.any(Number) });
    const p = await call("GET", `/api/v2/pipeline/${(ok.body as { id: string }).id}`);
    expect(p.body).toMatchObject({ vcs: { branch: "main" }, trigger: { type: "api" } });

    const bad = [
      [{ branch: "main" }, "branch"],
      [{ definition_id: randomUUID() }, "definition_id"],
      [{ config: { branch: "main" }, checkout: { branch: "dev" } }, "checkout"],
      [{ checkout: { branch: "a", tag: "v1" } }, "exclusive"],
    ] as const;
    for (const [body, word] of bad) {
      const res = await call("POST", `/api/v2/project/${slug}/pipeline/run`, body);
      expect(res.status, JSON.stringify(body)).toBe(400);
      expect((res.body as { message: string }).message).toContain(word);
      expect((res.body as { code: string }).code).toBe("DROVER_ERR_VALIDATION");
    }
  });

  it("pipeline/mine lists the caller's pipelines only; a bad page token is a 400", async () => {
    await call("POST", `/api/v2/project/${slug}/pipeline`, { branch: "main" }, member);
    const mine = await call("GET", `/api/v2/project/${slug}/pipeline/mine`, undefined, member);
    expect(mine.status).toBe(200);
    const items = (mine.body as { items: Array<{ trigger: { actor: { login: string } } }> }).items;
    expect(items).toHaveLength(1);
    const all = await call("GET", `/api/v2/project/${slug}/pipeline`, undefined, member);
    expect((all.body as { items: unknown[] }).items.length).toBeGreaterThan(1);
    const bad = await call("GET", `/api/v2/project/${slug}/pipeline/mine?page-token=zzz`);
    expect(bad.status).toBe(400);
    expect((bad.body as { message: string }).message).toMatch(/page token/);
  });

  it("takes JSON with a charset, and an empty body sent as JSON as no body", async () => {
    const withCharset = await http(cp.url, "POST", `/api/v2/project/${slug}/pipeline/run`, {
      token: admin,
      raw: JSON.stringify({ checkout: { branch: "main" } }),
      headers: { "content-type": "application/json; charset=utf-8" },
    });
    expect(withCharset.status).toBe(201);
    // A 404 for the missing variable, not a 400 for the body.
    const empty = await http(cp.url, "DELETE", `/api/v2/project/${slug}/envvar/NOPE`, {
      token: admin,
      raw: "",
      headers: { "content-type": "application/json" },
    });
    expect(empty.status).toBe(404);
    const broken = await http(cp.url, "POST", `/api/v2/project/${slug}/pipeline/run`, {
      token: admin,
      raw: "{nope",
    });
    expect(broken.status).toBe(400);
    expect((broken.body as { code: string }).code).toBe("DROVER_ERR_VALIDATION");
  });

  it("accepts a project slug sent as one encoded path segment", async () => {
    const res = await call("GET", `/api/v2/project/${encodeURIComponent(slug)}/pipeline/mine`);
    expect(res.status).toBe(200);
  });

  it("compile-config-with-defaults answers valid, errors with file:line, source and output", async () => {
    const ok = await call("POST", "/api/v2/compile-config-with-defaults", {
      config_yaml: CONFIG,
      options: { pipeline_parameters: "{}", pipeline_values: { "pipeline.git.branch": "main" } },
    });
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ valid: true, errors: [], "source-yaml": CONFIG });
    expect((ok.body as Record<string, string>)["output-yaml"]).toContain("workflows:");

    const broken =
      "version: 2.1\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [{nope: 1}]\nworkflows: {main: {jobs: [build]}}\n";
    const res = await call("POST", "/api/v2/compile-config-with-defaults", { config_yaml: broken });
    expect(res.status).toBe(200);
    const body = res.body as { valid: boolean; errors: Array<{ message: string }> };
    expect(body.valid).toBe(false);
    expect(body.errors[0]?.message).toMatch(/^\.circleci\/config\.yml:5:\d+: /);

    const unknown = await call("POST", "/api/v2/compile-config-with-defaults", {
      config_yaml: CONFIG,
      options: { nope: true },
    });
    expect(unknown.status).toBe(400);
    expect((unknown.body as { message: string }).message).toContain("nope");
  });

  it("insights: metrics, runs and summary from stored workflows", async () => {
    const made = await call("POST", `/api/v2/project/${slug}/pipeline`, { branch: "main" });
    const pid = (made.body as { id: string }).id;
    await cp.engine.idle();
    const wfs = await call("GET", `/api/v2/pipeline/${pid}/workflow`);
    const wf = (wfs.body as { items: Array<{ id: string }> }).items[0]!.id;
    await finish(wf, "build", "success");
    await finish(wf, "test", "failed");
    const i = `/api/v2/insights/${slug}`;
    const metrics = await call("GET", `${i}/workflows?reporting-window=last-7-days`);
    expect(metrics.status).toBe(200);
    const main = (
      metrics.body as { items: Array<{ name: string; metrics: Record<string, unknown> }> }
    ).items[0];
    expect(main).toMatchObject({ name: "main", metrics: { total_runs: 1, failed_runs: 1 } });
    const runs = await call("GET", `${i}/workflows/main?all-branches=true`);
    expect((runs.body as { items: Array<{ id: string; status: string }> }).items).toEqual([
      expect.objectContaining({ id: wf, status: "failed", branch: "main" }),
    ]);
    const summary = await call("GET", `${i}/workflows/main/summary`);
    expect(summary.body).toMatchObject({
      metrics: { total_runs: 1, success_rate: 0 },
      workflow_names: ["main"],
    });
    const other = await call("GET", `${i}/workflows?branch=nowhere`);
    expect((other.body as { items: unknown[] }).items).toEqual([]);
    for (const q of ["reporting-window=last-year", "nope=1", "page-token=%%%"]) {
      const res = await call("GET", `${i}/workflows?${q}`);
      expect(res.status, q).toBe(400);
    }
    const outsider = (
      await http(cp.url, "GET", `/api/v2/insights/gh/compat/missing/flaky-tests`, { token: admin })
    ).status;
    expect(outsider).toBe(404);
  });

  it("checkout keys: create, list, get, delete; user-key is a 400", async () => {
    const base = `/api/v2/project/${slug}/checkout-key`;
    const a = (await call("POST", base, { type: "deploy-key" })).body as Record<string, unknown>;
    const b = (await call("POST", base, { type: "deploy-key" })).body as Record<string, unknown>;
    expect(a.fingerprint).toMatch(/^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    const list = (await call("GET", base)).body as { items: Array<Record<string, unknown>> };
    expect(list.items.map((k) => k.fingerprint)).toEqual([b.fingerprint, a.fingerprint]);
    expect(list.items.map((k) => k.preferred)).toEqual([true, false]);
    expect(JSON.stringify(list)).not.toContain("PRIVATE");
    const got = await call("GET", `${base}/${String(a.fingerprint)}`);
    expect(got.body).toMatchObject({ fingerprint: a.fingerprint, type: "deploy-key" });
    expect((await call("DELETE", `${base}/${String(a.fingerprint)}`)).status).toBe(200);
    expect((await call("GET", `${base}/${String(a.fingerprint)}`)).status).toBe(404);
    const log = JSON.stringify((await call("GET", "/api/v2/admin/audit-log")).body);
    expect(log).toContain("project.ssh_key.create");
    expect(log).toContain("project.ssh_key.delete");
    const user = await call("POST", base, { type: "user-key" });
    expect(user.status).toBe(400);
    expect((await call("POST", base, { type: "deploy-key", extra: 1 })).status).toBe(400);
    expect((await call("GET", `${base}?page-token=bad`)).status).toBe(400);
  });

  it("env vars page by name with next_page_token", async () => {
    const base = `/api/v2/project/${slug}/envvar`;
    const names = Array.from({ length: 23 }, (_, n) => `VAR_${String(n).padStart(2, "0")}`);
    for (const name of names) await call("POST", base, { name, value: `value-${name}` });
    const first = (await call("GET", base)).body as {
      items: Array<{ name: string }>;
      next_page_token: string | null;
    };
    expect(first.items).toHaveLength(20);
    expect(first.next_page_token).toEqual(expect.any(String));
    const second = (await call("GET", `${base}?page-token=${first.next_page_token}`)).body as {
      items: Array<{ name: string }>;
      next_page_token: string | null;
    };
    expect([...first.items, ...second.items].map((v) => v.name)).toEqual(names);
    expect(second.next_page_token).toBeNull();
    expect((await call("GET", `${base}?page-token=bad`)).status).toBe(400);
  });
});
