/**
 * Configs compile in worker threads: one slow compile delays neither another trigger nor the
 * API, and a compile past the pool's time or memory limit fails its pipeline with a clear error.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CompilePool, InstantScheduler, type ControlPlane } from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";
import type { PipelineValues } from "@drover/config-compiler";
import type { DroverClient } from "@drover/cli";
import { logger } from "../helpers/harness.js";
import { http, makeRepo, startTestServer } from "../helpers/server.js";

/** Expands 500,000 steps before the step budget refuses it: about a second of compiler CPU. */
const SLOW = `version: 2.1
commands:
  ten: {steps: [{run: a}, {run: a}, {run: a}, {run: a}, {run: a}, {run: a}, {run: a}, {run: a}, {run: a}, {run: a}]}
  hundred: {steps: [ten, ten, ten, ten, ten, ten, ten, ten, ten, ten]}
  thousand: {steps: [hundred, hundred, hundred, hundred, hundred, hundred, hundred, hundred, hundred, hundred]}
jobs:
  build:
    parameters: {a: {type: integer}, b: {type: integer}}
    docker: [{image: x}]
    steps: [thousand]
workflows:
  ci:
    jobs:
      - build:
          matrix:
            parameters:
              a: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]
              b: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]
`;

const FAST = `version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [{run: "true"}]}
workflows:
  main: {jobs: [build]}
`;

const pipeline: PipelineValues = {
  id: randomUUID(),
  number: 1,
  projectSlug: "gh/pool/test",
  gitUrl: "",
  revision: "0".repeat(40),
  triggerSource: "api",
  parameters: {},
};

describe("compiles off the event loop", () => {
  let db: Database;
  let cp: ControlPlane;
  let admin: DroverClient;
  let token: string;
  beforeAll(async () => {
    db = await openDatabase({});
    ({ cp, admin } = await startTestServer(db, new InstantScheduler()));
    token = cp.bootstrapToken!;
  });
  afterAll(async () => {
    await cp.close();
    await db.close();
  });

  it("answers another trigger and GET /api/v2/me while a slow config compiles", async () => {
    const repo = makeRepo({ ".circleci/config.yml": FAST });
    const slug = `gh/pool/${randomUUID().slice(0, 8)}`;
    await admin.addProject({ slug, repository_url: repo.url });
    const done: string[] = [];
    const trigger = (config: string) =>
      http(cp.url, "POST", `/api/v2/project/${slug}/pipeline`, {
        token,
        body: { revision: repo.head, config },
      });
    const slow = trigger(SLOW).then((r) => {
      done.push("slow");
      return r;
    });
    // The server took the slow trigger in: from here on it is in (or on its way to) the compiler.
    const first = await http(cp.url, "GET", "/api/v2/me", { token });
    expect(first.status).toBe(200);
    const others = await Promise.all([
      trigger(FAST).then((r) => {
        done.push("fast trigger");
        return r;
      }),
      http(cp.url, "GET", "/api/v2/me", { token }).then((r) => {
        done.push("me");
        return r;
      }),
    ]);
    const slowRes = await slow;
    expect(done.at(-1)).toBe("slow");
    expect(done).toHaveLength(3);
    expect(others.map((r) => r.status)).toEqual([201, 200]);
    expect(slowRes.status).toBe(201);
    const slowPipeline = await admin.pipeline(slowRes.body.id as string);
    expect(slowPipeline.errors.map((e) => e.message)).toEqual([
      expect.stringContaining("more than 500000 steps"),
    ]);
  });

  it("fails a pipeline whose compile passes the time limit, and keeps compiling others", async () => {
    const pool = new CompilePool({ logger, timeoutMs: 100, maxWorkers: 1 });
    try {
      const [slow, fast] = await Promise.all([
        pool.compile(SLOW, { file: "slow.yml", pipeline }),
        pool.compile(FAST, { pipeline }),
      ]);
      expect(slow.errors).toEqual([
        {
          code: "DROVER_ERR_CONFIG_COMPILE_TIMEOUT",
          message: expect.stringContaining("took longer than 0.1 s"),
          file: "slow.yml",
          line: 0,
          col: 0,
        },
      ]);
      expect(fast.errors).toEqual([]);
      expect(fast.plan?.workflows[0]?.jobs.map((j) => j.name)).toEqual(["build"]);
    } finally {
      await pool.close();
    }
  });

  it("fails a compile that needs more memory than a worker may use", async () => {
    const pool = new CompilePool({ logger, maxHeapMb: 8, maxWorkers: 1 });
    try {
      const r = await pool.compile(SLOW, { pipeline });
      expect(r.errors.map((e) => e.code)).toEqual(["DROVER_ERR_CONFIG_COMPILE_MEMORY"]);
      expect(r.errors[0]?.message).toContain("more than 8 MB of memory");
    } finally {
      await pool.close();
    }
  });

  it("says so when the worker cannot start", async () => {
    const pool = new CompilePool({
      logger,
      workerUrl: new URL("file:///nonexistent/compile-worker.js"),
    });
    try {
      await expect(pool.compile(FAST, { pipeline })).rejects.toThrow(
        /cannot start a compile worker/,
      );
    } finally {
      await pool.close();
    }
  });
});
