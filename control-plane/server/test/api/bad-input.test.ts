/**
 * Input PostgreSQL cannot store (NUL, unpaired surrogates) and numbers past its integer range, in
 * every place a request carries them (route params, query, JSON body): each is a 400 that names
 * the field, never a 500, on PGlite and on PostgreSQL.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  EmbeddedSecretStore,
  InstantScheduler,
  generateMasterKey,
  registerSecretsRoutes,
  type ControlPlane,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import type { DroverClient } from "@drover/cli";
import { testDatabases } from "../helpers/databases.js";
import { CONFIG, http, makeRepo, startTestServer } from "../helpers/server.js";

const dbs = await testDatabases();

interface Probe {
  what: string;
  method: string;
  path: string;
  body?: unknown;
  /** Raw JSON text (for unpaired surrogates, which JSON.stringify would escape the same way). */
  raw?: string;
  field: string;
}

describe.each(dbs)("bad input is a 400 naming the field ($name)", ({ open }) => {
  let db: Database;
  let cp: ControlPlane;
  let admin: DroverClient;
  let token: string;
  const repo = makeRepo({ ".circleci/config.yml": CONFIG });
  const slug = `gh/acme-${randomUUID().slice(0, 8)}/app`;
  const org = slug.split("/")[1]!;
  let contextId = "";
  let jobNumber = 0;
  let pipelineId = "";
  const scheduler = new InstantScheduler();

  beforeAll(async () => {
    db = await open();
    const store = await EmbeddedSecretStore.open({
      db,
      masterKey: Buffer.from(generateMasterKey(), "base64"),
      keyName: "drover",
    });
    ({ cp, admin } = await startTestServer(db, scheduler, {
      routes: [(app, deps) => registerSecretsRoutes(app, { db: deps.db, store })],
    }));
    token = cp.bootstrapToken ?? "";
    await admin.addProject({ slug, repository_url: repo.url });
    const p = await admin.trigger(slug, { branch: "main" });
    pipelineId = p.id;
    const wf = (await admin.pipelineWorkflows(p.id)).items[0]!;
    const jobs = await http(cp.url, "GET", `/api/v2/workflow/${wf.id}/job`, { token });
    jobNumber = jobs.body.items[0].job_number;
    const ctx = await http(cp.url, "POST", "/api/v2/context", {
      token,
      body: { name: `ctx-${randomUUID().slice(0, 8)}`, owner: { slug: `gh/${org}` } },
    });
    expect(ctx.status).toBe(200);
    contextId = ctx.body.id;
  });
  afterAll(async () => {
    await cp.close();
    await db.close();
  });

  const expectFieldError = async (p: Probe) => {
    const res = await http(cp.url, p.method, p.path, {
      token,
      ...(p.raw !== undefined ? { raw: p.raw } : p.body !== undefined ? { body: p.body } : {}),
    });
    expect(res.status, `${p.what}: ${JSON.stringify(res.body)}`).toBe(400);
    expect(res.body.code, p.what).toBe("DROVER_ERR_VALIDATION");
    expect(
      res.body.errors?.map((e: { field: string }) => e.field),
      p.what,
    ).toContain(p.field);
  };

  it("answers a path with a malformed percent-encoding in Drover's error shape", async () => {
    for (const path of [`/api/v2/project/gh/${org}/%zz`, "/api/v2/project/%E0%A4%A/x/y"]) {
      const res = await http(cp.url, "GET", path, { token });
      expect(res.status, path).toBe(400);
      expect(res.body, path).toEqual({
        message: expect.stringMatching(/^the request URL cannot be read: /),
        code: "DROVER_ERR_REQUEST",
      });
    }
  });

  it("refuses NUL bytes in route params, query strings and body strings", async () => {
    const probes: Probe[] = [
      { what: "slug", method: "GET", path: `/api/v2/project/gh/${org}%00/app`, field: "org" },
      {
        what: "slug on trigger",
        method: "POST",
        path: `/api/v2/project/gh/${org}/ap%00p/pipeline`,
        body: {},
        field: "repo",
      },
      {
        what: "branch on trigger",
        method: "POST",
        path: `/api/v2/project/${slug}/pipeline`,
        body: { branch: "ma\u0000in" },
        field: "branch",
      },
      {
        what: "pipeline parameter",
        method: "POST",
        path: `/api/v2/project/${slug}/pipeline`,
        body: { branch: "main", parameters: { flavour: "a\u0000b" } },
        field: "parameters.flavour",
      },
      {
        what: "branch filter",
        method: "GET",
        path: `/api/v2/project/${slug}/pipeline?branch=ma%00in`,
        field: "branch",
      },
      {
        what: "env var name param",
        method: "GET",
        path: `/api/v2/project/${slug}/envvar/A%00B`,
        field: "name",
      },
      {
        what: "env var name param on delete",
        method: "DELETE",
        path: `/api/v2/project/${slug}/envvar/A%00B`,
        field: "name",
      },
      {
        what: "env var value",
        method: "POST",
        path: `/api/v2/project/${slug}/envvar`,
        body: { name: "OK_NAME", value: "se\u0000cret" },
        field: "value",
      },
      {
        what: "context env var name param",
        method: "DELETE",
        path: `/api/v2/context/${contextId}/environment-variable/X%00`,
        field: "name",
      },
      {
        what: "token label",
        method: "POST",
        path: "/api/v2/tokens",
        body: { label: "lap\u0000top" },
        field: "label",
      },
      {
        what: "project setting key",
        method: "PATCH",
        path: `/api/v2/project/${slug}/settings`,
        body: { settings: { "a\u0000b": 1 } },
        field: "settings",
      },
      {
        what: "schedule name",
        method: "POST",
        path: `/api/v2/project/${slug}/schedule`,
        body: {
          name: "nightly\u0000",
          timetable: { per_hour: 1, hours_of_day: [1], days_of_week: ["MON"] },
          "attribution-actor": "current",
          parameters: { branch: "main" },
        },
        field: "name",
      },
      {
        what: "org filter",
        method: "GET",
        path: `/api/v2/pipeline?org-slug=gh/${org}%00`,
        field: "org-slug",
      },
    ];
    for (const p of probes) await expectFieldError(p);
  });

  it("refuses unpaired UTF-16 surrogates, which PostgreSQL's JSON cannot hold", async () => {
    await expectFieldError({
      what: "branch with a lone high surrogate",
      method: "POST",
      path: `/api/v2/project/${slug}/pipeline`,
      raw: '{"branch":"main\\ud800"}',
      field: "branch",
    });
    await expectFieldError({
      what: "parameter with a lone low surrogate",
      method: "POST",
      path: `/api/v2/project/${slug}/pipeline`,
      raw: '{"branch":"main","parameters":{"p":"\\udc00x"}}',
      field: "parameters.p",
    });
  });

  it("refuses numbers outside a positive PostgreSQL integer in numeric route params", async () => {
    for (const n of ["9007199254740993", "2147483648", "0", "-1", "1e3", "abc", "1.5"]) {
      for (const path of [
        `/api/v2/project/${slug}/job/${n}`,
        `/api/v2/project/${slug}/job/${n}/output`,
        `/api/v2/project/${slug}/pipeline/${n}`,
        `/api/v2/project/${slug}/${n}/artifacts`,
        `/api/v2/project/${slug}/${n}/tests`,
      ]) {
        await expectFieldError({ what: `${path}`, method: "GET", path, field: "number" });
      }
      await expectFieldError({
        what: `cancel job ${n}`,
        method: "POST",
        path: `/api/v2/project/${slug}/job/${n}/cancel`,
        field: "number",
      });
    }
    await expectFieldError({
      what: "artifact node past 2^31",
      method: "GET",
      path: `/api/v2/project/${slug}/${jobNumber}/artifacts/2147483648/a.txt`,
      field: "node",
    });
  });

  it("refuses page tokens whose fields PostgreSQL cannot compare", async () => {
    const big = (cursor: unknown) => Buffer.from(JSON.stringify(cursor)).toString("base64url");
    for (const path of [
      `/api/v2/project/${slug}/pipeline?page-token=${big({ n: 1e30 })}`,
      `/api/v2/project/${slug}/pipeline?page-token=${big({ n: 2 ** 53 + 2 })}`,
      `/api/v2/pipeline?page-token=${big({ t: "yesterday", i: "x" })}`,
      `/api/v2/project/${slug}/schedule?page-token=${big({ o: -1 })}`,
      `/api/v2/pipeline/${pipelineId}/workflow?page-token=${big({ o: 1e30 })}`,
      `/api/v2/project/${slug}/${jobNumber}/tests?page-token=1e30`,
    ]) {
      await expectFieldError({ what: path, method: "GET", path, field: "page-token" });
    }
  });

  it("refuses NUL in what a task reports: events through the hook, test results streamed", async () => {
    const plans = await scheduler.waitFor((all) => all.some((t) => t.pipeline.id === pipelineId));
    const t = plans.find((x) => x.pipeline.id === pipelineId)!;
    const claim = await http(cp.url, "POST", "/internal/v1/tasks/claim", {
      body: { token: t.taskToken },
    });
    expect(claim.status).toBe(200);
    const at = new Date().toISOString();
    const events = await http(cp.url, "POST", `/internal/v1/tasks/${t.taskId}/events`, {
      bearer: claim.body.session,
      body: { events: [{ type: "step_started", step: 0, name: "ec\u0000ho", at }] },
    });
    expect(events.status).toBe(400);
    expect(events.body.errors.map((e: { field: string }) => e.field)).toContain("events.0.name");
    const tests = await http(cp.url, "POST", `/internal/v1/tasks/${t.taskId}/tests`, {
      bearer: claim.body.session,
      body: {
        tests: [
          {
            classname: "c",
            name: "n",
            result: "failure",
            message: "bad\u0000",
            runTimeSeconds: 1,
            source: "junit",
          },
        ],
      },
    });
    expect(tests.status).toBe(400);
    expect(tests.body.message).toContain("tests.0.message");
  });

  it("lists each bad field once, and at most 20 of them", async () => {
    const res = await http(cp.url, "GET", `/api/v2/project/${slug}/job/abc`, { token });
    expect(res.body.errors).toEqual([
      { field: "number", message: "must be an integer from 1 to 2147483647" },
    ]);
    const many = Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`p${i}`, "\u0000"]));
    const flood = await http(cp.url, "POST", `/api/v2/project/${slug}/pipeline`, {
      token,
      body: { branch: "main", parameters: many },
    });
    expect(flood.status).toBe(400);
    expect(flood.body.errors).toHaveLength(20);
    expect(flood.body.message).toMatch(/\(and 980 more\)$/);
  });

  it("refuses JSON nested deeper than 64 levels, however deep, naming where", async () => {
    for (const depth of [65, 100_000]) {
      const raw = `{"settings":${'{"a":'.repeat(depth)}1${"}".repeat(depth)}}`;
      const res = await http(cp.url, "PATCH", `/api/v2/project/${slug}/settings`, {
        token,
        raw,
      });
      expect(res.status, `depth ${depth}: ${JSON.stringify(res.body).slice(0, 300)}`).toBe(400);
      expect(res.body.errors[0].message).toBe("nested deeper than 64 levels");
      expect(res.body.errors[0].field).toBe(["settings", ...Array(63).fill("a")].join("."));
    }
  });

  it("still serves the same routes with good input", async () => {
    const ok = await http(cp.url, "GET", `/api/v2/project/${slug}/job/${jobNumber}`, { token });
    expect(ok.status).toBe(200);
    const missing = await http(cp.url, "GET", `/api/v2/project/${slug}/job/2147483647`, { token });
    expect(missing.status).toBe(404);
    const unicode = await http(cp.url, "POST", `/api/v2/project/${slug}/envvar`, {
      token,
      body: { name: "EMOJI", value: "ok \u{1F600} \u00e9" },
    });
    expect(unicode.status).toBe(201);
  });
});
