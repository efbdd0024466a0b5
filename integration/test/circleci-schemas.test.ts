/**
 * Drover's answers against CircleCI's published API v2 response schemas (the fixture
 * `fixtures/circleci-api-v2-schemas.json`, cut from CircleCI's openapi.json; source in
 * `fixtures/README.md`), validated with ajv: pipelines, workflows, jobs, job details, tests,
 * artifacts, env vars, checkout keys, insights and errors.
 */
import { readFileSync } from "node:fs";
import { Ajv, type ValidateFunction } from "ajv";
import formatsModule from "ajv-formats";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCircleServer, testCase, type CircleServer } from "./circleci-server.js";

interface Fixture {
  responses: Record<string, object>;
}
const fixture = JSON.parse(
  readFileSync(new URL("./fixtures/circleci-api-v2-schemas.json", import.meta.url), "utf8"),
) as Fixture;

/** OpenAPI 3.0's `x-nullable` (CircleCI's spelling) as ajv's `nullable`. */
function openApiToAjv(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(openApiToAjv);
  if (!node || typeof node !== "object") return node;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === "x-nullable") {
      if (v === true) out.nullable = true;
      continue;
    }
    out[k] = openApiToAjv(v);
  }
  return out;
}

const addFormats = ((formatsModule as unknown as { default?: unknown }).default ??
  formatsModule) as (ajv: Ajv) => Ajv;
const ajv = addFormats(
  new Ajv({
    strict: false,
    allErrors: true,
    formats: { int64: true, int32: true, float: true, double: true },
  }),
);
const validators = new Map<string, ValidateFunction>();

/** Asserts that `body` matches CircleCI's schema of `operation` ("GET /path 200"). */
function expectSchema(operation: string, body: unknown): void {
  let validate = validators.get(operation);
  if (!validate) {
    const schema = fixture.responses[operation];
    if (!schema) throw new Error(`no schema for ${operation} in the fixture`);
    validate = ajv.compile(openApiToAjv(schema) as object);
    validators.set(operation, validate);
  }
  const ok = validate(body);
  expect(
    ok,
    `${operation}: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(body, null, 2).slice(0, 2000)}`,
  ).toBe(true);
}

describe("Drover's responses match CircleCI's API v2 schemas", () => {
  let s: CircleServer;
  const call = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`${s.cp.url}${path}`, {
      method,
      headers: {
        "Circle-Token": s.token,
        ...(body !== undefined ? { "content-type": "application/json" } : {}),
      },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };
  let pipelineId = "";
  let workflowId = "";
  let testJobNumber = 0;

  beforeAll(async () => {
    s = await startCircleServer();
    const made = await call("POST", `/api/v2/project/${s.slug}/pipeline`, { branch: "main" });
    expect(made.status).toBe(201);
    expectSchema("POST /project/{project-slug}/pipeline 201", made.body);
    pipelineId = String(made.body.id);
    await s.cp.engine.idle();
    const wfs = await call("GET", `/api/v2/pipeline/${pipelineId}/workflow`);
    workflowId = String((wfs.body.items as Array<{ id: string }>)[0]?.id);
    await s.playJob(workflowId, "build", {
      result: "success",
      step: { name: "Compile", lines: ["compiled"] },
    });
    const plan = await s.playJob(workflowId, "test", {
      result: "failed",
      step: { name: "Unit tests", lines: ["FAIL flaky", "make: *** [test] Error 1"] },
      tests: [testCase("adds", "success"), testCase("flaky", "failure", "expected 1, got 2")],
      artifacts: { "report/index.txt": "1 failed\n" },
    });
    testJobNumber = plan.job.number;
    // Rerun from failed: the flaky test passes on the same commit.
    const rerun = await call("POST", `/api/v2/workflow/${workflowId}/rerun`, { from_failed: true });
    expect(rerun.status).toBe(202);
    expectSchema("POST /workflow/{id}/rerun 202", rerun.body);
    await s.cp.engine.idle();
    const again = await call("GET", `/api/v2/pipeline/${pipelineId}/workflow`);
    const newest = (again.body.items as Array<{ id: string }>).find((w) => w.id !== workflowId);
    await s.playJob(newest!.id, "test", {
      result: "success",
      step: { name: "Unit tests", lines: ["ok"] },
      tests: [testCase("adds", "success"), testCase("flaky", "success")],
    });
  }, 120_000);
  afterAll(async () => {
    await s?.close();
  });

  it("pipelines: list, mine, by number, by id, config, across projects, pipeline/run", async () => {
    const p = `/api/v2/project/${s.slug}`;
    expectSchema(
      "GET /project/{project-slug}/pipeline 200",
      (await call("GET", `${p}/pipeline`)).body,
    );
    const mine = await call("GET", `${p}/pipeline/mine`);
    expect((mine.body.items as unknown[]).length).toBe(1);
    expectSchema("GET /project/{project-slug}/pipeline/mine 200", mine.body);
    expectSchema(
      "GET /project/{project-slug}/pipeline/{pipeline-number} 200",
      (await call("GET", `${p}/pipeline/1`)).body,
    );
    expectSchema(
      "GET /pipeline/{pipeline-id} 200",
      (await call("GET", `/api/v2/pipeline/${pipelineId}`)).body,
    );
    expectSchema(
      "GET /pipeline/{pipeline-id}/config 200",
      (await call("GET", `/api/v2/pipeline/${pipelineId}/config`)).body,
    );
    const org = s.slug.split("/").slice(0, 2).join("/");
    const all = await call("GET", `/api/v2/pipeline?org-slug=${org}&mine=true`);
    expect((all.body.items as unknown[]).length).toBeGreaterThan(0);
    expectSchema("GET /pipeline 200", all.body);
    const run = await call("POST", `${p}/pipeline/run`, {
      definition_id: s.projectId,
      config: { branch: "main" },
      checkout: { branch: "main" },
      parameters: {},
    });
    expect(run.status).toBe(201);
    expectSchema("POST /project/{project-slug}/pipeline 201", run.body);
  });

  it("workflows and jobs: workflow, its jobs, job details", async () => {
    expectSchema(
      "GET /pipeline/{pipeline-id}/workflow 200",
      (await call("GET", `/api/v2/pipeline/${pipelineId}/workflow`)).body,
    );
    expectSchema(
      "GET /workflow/{id} 200",
      (await call("GET", `/api/v2/workflow/${workflowId}`)).body,
    );
    expectSchema(
      "GET /workflow/{id}/job 200",
      (await call("GET", `/api/v2/workflow/${workflowId}/job`)).body,
    );
    const job = await call("GET", `/api/v2/project/${s.slug}/job/${testJobNumber}`);
    expect(job.body.status).toBe("failed");
    expectSchema("GET /project/{project-slug}/job/{job-number} 200", job.body);
  });

  it("tests and artifacts of a job", async () => {
    const tests = await call("GET", `/api/v2/project/${s.slug}/${testJobNumber}/tests`);
    expect((tests.body.items as unknown[]).length).toBe(2);
    expectSchema("GET /project/{project-slug}/{job-number}/tests 200", tests.body);
    const artifacts = await call("GET", `/api/v2/project/${s.slug}/${testJobNumber}/artifacts`);
    expect((artifacts.body.items as unknown[]).length).toBe(1);
    expectSchema("GET /project/{project-slug}/{job-number}/artifacts 200", artifacts.body);
  });

  it("env vars and checkout keys", async () => {
    const p = `/api/v2/project/${s.slug}`;
    const created = await call("POST", `${p}/envvar`, { name: "API_KEY", value: "s3cret-value" });
    expect(created.status).toBe(201);
    expectSchema("POST /project/{project-slug}/envvar 201", created.body);
    expectSchema("GET /project/{project-slug}/envvar 200", (await call("GET", `${p}/envvar`)).body);
    expectSchema(
      "GET /project/{project-slug}/envvar/{name} 200",
      (await call("GET", `${p}/envvar/API_KEY`)).body,
    );
    expectSchema(
      "DELETE /project/{project-slug}/envvar/{name} 200",
      (await call("DELETE", `${p}/envvar/API_KEY`)).body,
    );

    const key = await call("POST", `${p}/checkout-key`, { type: "deploy-key" });
    expect(key.status).toBe(201);
    expectSchema("POST /project/{project-slug}/checkout-key 201", key.body);
    const fp = encodeURIComponent(String(key.body.fingerprint));
    expectSchema(
      "GET /project/{project-slug}/checkout-key 200",
      (await call("GET", `${p}/checkout-key`)).body,
    );
    expectSchema(
      "GET /project/{project-slug}/checkout-key/{fingerprint} 200",
      (await call("GET", `${p}/checkout-key/${fp}`)).body,
    );
    expectSchema(
      "DELETE /project/{project-slug}/checkout-key/{fingerprint} 200",
      (await call("DELETE", `${p}/checkout-key/${fp}`)).body,
    );
  });

  it("insights: workflow metrics, runs, summary, flaky tests", async () => {
    const i = `/api/v2/insights/${s.slug}`;
    const metrics = await call("GET", `${i}/workflows`);
    expectSchema("GET /insights/{project-slug}/workflows 200", metrics.body);
    const main = (
      metrics.body.items as Array<{ name: string; metrics: Record<string, number> }>
    )[0];
    expect(main?.name).toBe("main");
    expect(main?.metrics).toMatchObject({ total_runs: 2, successful_runs: 1, failed_runs: 1 });
    const runs = await call("GET", `${i}/workflows/main`);
    expect((runs.body.items as unknown[]).length).toBe(2);
    expectSchema("GET /insights/{project-slug}/workflows/{workflow-name} 200", runs.body);
    expectSchema(
      "GET /insights/{project-slug}/workflows/{workflow-name}/summary 200",
      (await call("GET", `${i}/workflows/main/summary`)).body,
    );
    const flaky = await call("GET", `${i}/flaky-tests`);
    expectSchema("GET /insights/{project-slug}/flaky-tests 200", flaky.body);
    expect(flaky.body["flaky-tests"]).toEqual([
      expect.objectContaining({ "test-name": "flaky", "times-flaked": 1, "job-name": "test" }),
    ]);
  });

  it("errors: CircleCI's {message} plus Drover's code", async () => {
    for (const [method, path, body] of [
      ["GET", "/api/v2/project/gh/acme/missing/pipeline", undefined],
      ["GET", `/api/v2/project/${s.slug}/pipeline?page-token=not-a-token`, undefined],
      ["POST", `/api/v2/project/${s.slug}/pipeline/run`, { config: { branch: "main" }, nope: 1 }],
    ] as const) {
      const res = await call(method, path, body);
      expect(res.status).toBeGreaterThanOrEqual(400);
      expectSchema("error", res.body);
      expect(res.body.code).toMatch(/^DROVER_ERR_/);
    }
  });
});
