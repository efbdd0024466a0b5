/**
 * A control plane with a real output-processor, the secrets module (env vars, checkout keys) and
 * a project whose `test` job fails with stored test results and artifacts: what CircleCI's API
 * clients read back. Jobs are played through the real task API and `OutputClient` (the agent's
 * path); the scheduler is the instant one.
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import pino from "pino";
import {
  InstantScheduler,
  createProject,
  createSecretsModule,
  serverConfigSchema,
  startControlPlane,
  type ControlPlane,
  type SecretsModule,
  type TaskPlan,
} from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";
import {
  HmacTaskTokenVerifier,
  createOutputProcessor,
  signOutputToken,
  type OutputProcessor,
} from "@drover/output-processor";
import { OutputClient } from "@drover/output-processor/client";
import { TaskApiClient, type TestCase } from "@drover/task-api";

export const CONFIG = `version: 2.1
jobs:
  build:
    docker: [{image: drover/debian:bookworm}]
    steps:
      - run: {name: Compile, command: make}
  test:
    docker: [{image: drover/debian:bookworm}]
    steps:
      - run: {name: Unit tests, command: make test}
workflows:
  main:
    jobs:
      - build
      - test: {requires: [build]}
`;

const logger = pino({ level: process.env.DROVER_TEST_LOG ?? "silent" });

export interface PlayedJob {
  result: "success" | "failed";
  /** Step name and its output lines. */
  step: { name: string; lines: string[] };
  tests?: TestCase[];
  artifacts?: Record<string, string>;
}

export interface CircleServer {
  cp: ControlPlane;
  db: Database;
  /** The bootstrap admin's API token. */
  token: string;
  slug: string;
  projectId: string;
  /** Plays every submitted, unplayed task of `job` with `play`, then waits for the engine. */
  playJob(workflowId: string, job: string, play: PlayedJob): Promise<TaskPlan>;
  close(): Promise<void>;
}

function makeRepo(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "drover-circle-repo-"));
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@example.invalid",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@example.invalid",
  };
  execFileSync("git", ["init", "-q", "-b", "main"], { cwd: dir, env });
  for (const [p, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, p)), { recursive: true });
    writeFileSync(join(dir, p), text);
  }
  execFileSync("git", ["add", "-A"], { cwd: dir, env });
  execFileSync("git", ["commit", "-q", "-m", "init"], { cwd: dir, env });
  return dir;
}

export async function startCircleServer(): Promise<CircleServer> {
  const dirs: string[] = [];
  const tmp = (p: string) => {
    const d = mkdtempSync(join(tmpdir(), p));
    dirs.push(d);
    return d;
  };
  const outputSecret = `out-${randomUUID()}`;
  const readToken = `read-${randomUUID()}`;
  const op: OutputProcessor = createOutputProcessor(
    {
      port: 0,
      host: "127.0.0.1",
      dataDir: tmp("drover-circle-out-"),
      channelPrefix: `test-${randomUUID()}:`,
      pusher: { appKey: "k", appSecret: "s".repeat(20) },
    },
    {
      logger,
      verifier: new HmacTaskTokenVerifier(outputSecret),
      authorizeRead: async (req) => req.headers.authorization === `Bearer ${readToken}`,
    },
  );
  const opPort = await op.listen();
  const db = await openDatabase({});
  const dataDir = tmp("drover-circle-cp-");
  const secrets: SecretsModule = await createSecretsModule({ db, dataDir, env: {} });
  const scheduler = new InstantScheduler();
  const repoDir = makeRepo({ ".circleci/config.yml": CONFIG });
  dirs.push(repoDir);
  const slug = `gh/acme/app-${randomUUID().slice(0, 8)}`;
  const project = await createProject(db, {
    slug,
    repositoryUrl: `file://${repoDir}`,
    defaultBranch: "main",
  });
  const cp = await startControlPlane({
    config: serverConfigSchema.parse({
      port: 0,
      dataDir,
      tickIntervalMs: 0,
      scheduleTickMs: 0,
      outputUrl: `http://127.0.0.1:${opPort}`,
      outputReadToken: readToken,
    }),
    logger,
    db,
    scheduler,
    mintOutputToken: (taskId: string) => {
      const plan = scheduler.submitted.get(taskId);
      if (!plan) throw new Error(`no plan for ${taskId}`);
      return signOutputToken(outputSecret, {
        taskId,
        jobId: plan.job.id,
        projectId: project.id,
        expiresAt: Date.now() + 3_600_000,
      });
    },
    routes: secrets.routes,
  });
  const played = new Set<string>();

  async function playJob(workflowId: string, job: string, play: PlayedJob): Promise<TaskPlan> {
    await cp.engine.idle();
    const plans = [...scheduler.submitted.values()].filter(
      (p) => p.workflow.id === workflowId && p.job.name === job && !played.has(p.taskId),
    );
    const first = plans[0];
    if (!first) throw new Error(`no submitted task for ${job} of workflow ${workflowId}`);
    for (const plan of plans) {
      played.add(plan.taskId);
      const agent = new TaskApiClient({ url: cp.url });
      const { task } = await agent.claim(plan.taskToken);
      const out = new OutputClient({
        url: task.output.url,
        token: task.output.token,
        taskId: plan.taskId,
      });
      await out.connect();
      const exit = play.result === "success" ? 0 : 1;
      const status = play.result === "success" ? "success" : "failed";
      const at = () => new Date().toISOString();
      out.stepStarted(0, play.step.name);
      for (const line of play.step.lines) out.write(0, exit === 0 ? "out" : "err", `${line}\n`);
      out.stepFinished(0, exit, status);
      out.taskFinished(play.result);
      await out.close({ timeoutMs: 5000 });
      await agent.sendEvents([{ type: "step_started", step: 0, name: play.step.name, at: at() }]);
      if (play.tests) await agent.sendTests(play.tests);
      for (const [path, text] of Object.entries(play.artifacts ?? {})) {
        await agent.putArtifact(path, text);
      }
      await agent.sendEvents([
        { type: "step_finished", step: 0, status, exitCode: exit, durationMs: 1200, at: at() },
        { type: "task_finished", result: play.result, at: at() },
      ]);
      await agent.close();
    }
    await cp.engine.idle();
    return first;
  }

  return {
    cp,
    db,
    token: cp.bootstrapToken ?? "",
    slug,
    projectId: project.id,
    playJob,
    async close() {
      await cp.close();
      await op.close().catch(() => undefined);
      await secrets.close();
      await db.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}

/** A test case as the agent uploads it. */
export function testCase(name: string, result: TestCase["result"], message?: string): TestCase {
  return {
    classname: "app.Suite",
    name,
    file: "test/suite.test.ts",
    result,
    ...(message ? { message } : {}),
    runTimeSeconds: 0.25,
    source: "junit",
  };
}
