/**
 * Issue 7's end-to-end: a project env var and a context secret used by a job in a real run (the
 * whole `drover up` composition in this process, the local scheduler, the built agent, Docker).
 * The step proves it received both values (by their sha256); then every API response the test
 * saw, the job's stored output, the server's and the agent's logs and the Nomad job spec built
 * for the task hold neither value nor its base64 form.
 */
import { execFileSync } from "node:child_process";
import { createHash, randomUUID } from "node:crypto";
import {
  existsSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  writeFileSync,
  mkdirSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LocalScheduler,
  ROOT_LOG_REDACT_PATHS,
  serverConfigSchema,
  startDrover,
  toTaskSpecInput,
  type Drover,
  type TaskPlan,
} from "@drover/control-plane";
import { buildTaskJob, jobSpecConfigFromEnv } from "@drover/nomad-jobs";

const root = fileURLToPath(new URL("../..", import.meta.url));
const PROJECT_SECRET = `p-${randomUUID()}-Pr0j`;
const CONTEXT_SECRET = `c-${randomUUID()}-Ctx!`;
const sha = (s: string) => createHash("sha256").update(s).digest("hex");
const forms = (s: string) => [
  s,
  Buffer.from(s).toString("base64"),
  Buffer.from(s).toString("base64").replace(/=+$/, ""),
];

/** Records every plan handed to the local scheduler (what a Nomad job would be built from). */
class RecordingScheduler extends LocalScheduler {
  readonly plans: TaskPlan[] = [];
  override async submit(plan: TaskPlan): Promise<void> {
    this.plans.push(plan);
    return super.submit(plan);
  }
}

let drover: Drover;
let scheduler: RecordingScheduler;
let dataDir: string;
let token: string;
const logs: string[] = [];
const responses: string[] = [];

async function call(method: string, path: string, body?: unknown) {
  const res = await fetch(new URL(path, drover.cp.url), {
    method,
    headers: {
      "circle-token": token,
      ...(body !== undefined ? { "content-type": "application/json" } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  responses.push(text, JSON.stringify([...res.headers]));
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- API bodies of many shapes
  const parsed: any = text ? JSON.parse(text) : undefined;
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
  return parsed;
}

function repoWith(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "drover-secrets-repo-"));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(join(dir, name, ".."), { recursive: true });
    writeFileSync(join(dir, name), content);
  }
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@localhost",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@localhost",
  };
  for (const args of [
    ["init", "-q", "-b", "main"],
    ["add", "-A"],
    ["commit", "-qm", "init"],
  ]) {
    execFileSync("git", args, { cwd: dir, env });
  }
  return dir;
}

const CONFIG = `version: 2.1
jobs:
  use-secrets:
    docker: [{image: drover/ci-base}]
    steps:
      - run:
          name: check the secrets
          command: |
            test "$(printf %s "$E2E_PROJECT_SECRET" | sha256sum | cut -d' ' -f1)" = "${sha(PROJECT_SECRET)}" || { echo "project secret is wrong"; exit 1; }
            test "$(printf %s "$E2E_CONTEXT_SECRET" | sha256sum | cut -d' ' -f1)" = "${sha(CONTEXT_SECRET)}" || { echo "context secret is wrong"; exit 1; }
            echo "both secrets arrived (lengths \${#E2E_PROJECT_SECRET} and \${#E2E_CONTEXT_SECRET})"
            echo "careless echo: $E2E_PROJECT_SECRET and $E2E_CONTEXT_SECRET"
            printf 'careless base64: %s\\n' "$(printf %s "$E2E_CONTEXT_SECRET" | base64 -w0)"
workflows:
  main:
    jobs:
      - use-secrets:
          context: [e2e-ctx]
`;

beforeAll(async () => {
  if (!existsSync(join(root, "build-agent", "dist", "main.js"))) {
    execFileSync(
      process.execPath,
      [join(root, "node_modules", "typescript", "bin", "tsc"), "--build"],
      { cwd: root, stdio: "inherit" },
    );
  }
  dataDir = mkdtempSync(join(tmpdir(), "drover-secrets-e2e-"));
  const logger = pino(
    { level: "debug", redact: { paths: [...ROOT_LOG_REDACT_PATHS], censor: "[redacted]" } },
    { write: (s: string) => void logs.push(s) },
  );
  const config = serverConfigSchema.parse({
    port: 0,
    outputPort: 0,
    dataDir,
    tickIntervalMs: 500,
    scheduleTickMs: 0,
  });
  const env = { ...process.env, NOMAD_ADDR: "", DATABASE_URL: "", REDIS_URL: "" };
  scheduler = new RecordingScheduler({
    logger,
    stateDir: join(dataDir, "agents"),
    baseEnv: env,
    sweep: true,
  });
  drover = await startDrover({ config, logger, env, scheduler });
  token = drover.cp.bootstrapToken!;
}, 300_000);

afterAll(async () => {
  await drover?.close();
});

describe("secrets end to end", () => {
  it("reach the step and appear nowhere else", { timeout: 240_000 }, async () => {
    const org = `e2e-${randomUUID().slice(0, 8)}`;
    const slug = `gh/${org}/app`;
    const repo = repoWith({ ".circleci/config.yml": CONFIG });
    await call("POST", "/api/v2/project", {
      slug,
      repository_url: `file://${repo}`,
      default_branch: "main",
    });
    await call("POST", `/api/v2/project/${slug}/envvar`, {
      name: "E2E_PROJECT_SECRET",
      value: PROJECT_SECRET,
    });
    const ctx = await call("POST", "/api/v2/context", {
      name: "e2e-ctx",
      owner: { slug: `gh/${org}`, type: "organization" },
    });
    await call("PUT", `/api/v2/context/${ctx.id}/environment-variable/E2E_CONTEXT_SECRET`, {
      value: CONTEXT_SECRET,
    });
    await call("GET", `/api/v2/project/${slug}/envvar`);
    await call("GET", `/api/v2/context/${ctx.id}/environment-variable`);

    const pipeline = await call("POST", `/api/v2/project/${slug}/pipeline`, { branch: "main" });
    let workflows: Array<{ id: string; status: string; stopped_at: string | null }>;
    const deadline = Date.now() + 180_000;
    for (;;) {
      workflows = (await call("GET", `/api/v2/pipeline/${pipeline.id}/workflow`)).items;
      if (workflows.length > 0 && workflows.every((w) => w.stopped_at !== null)) break;
      if (Date.now() > deadline) throw new Error("the workflow did not finish in time");
      await new Promise((r) => setTimeout(r, 500));
    }
    const jobs = (await call("GET", `/api/v2/workflow/${workflows[0]!.id}/job`)).items;
    const job = await call("GET", `/api/v2/project/${slug}/job/${jobs[0].job_number}`);
    const taskId: string = job.steps[0].task_id;

    // The job's stored output, read the way users read it.
    const read = async (q: string) => {
      const res = await fetch(new URL(`/output/v1/tasks/${taskId}/${q}`, drover.outputUrl), {
        headers: { "circle-token": token },
      });
      expect(res.status).toBe(200);
      return res.text();
    };
    // The live job page is mounted, and its channel authorization signs for this user.
    const page = await fetch(new URL(`/jobs/${job.id}`, drover.cp.url));
    expect(page.status).toBe(200);
    responses.push(await page.text());
    const auth = await call("POST", "/api/pusher/auth", {
      socket_id: "123.456",
      channel_name: `private-job-${job.id}`,
    });
    expect(auth.auth).toMatch(/^[^:]+:[0-9a-f]{64}$/);

    // Only users who may see the project read its logs (same 404 as for an unknown task).
    const outsider = await call("POST", "/api/v2/tokens", {
      login: `outsider-${randomUUID().slice(0, 8)}`,
      role: "member",
    });
    const denied = await fetch(new URL(`/output/v1/tasks/${taskId}/log`, drover.outputUrl), {
      headers: { "circle-token": outsider.token },
    });
    expect(denied.status).toBe(404);
    const anonymous = await fetch(new URL(`/output/v1/tasks/${taskId}/log`, drover.outputUrl));
    expect(anonymous.status).toBe(404);

    const text = await read("log");
    const jsonl = await read("log?from=1&format=jsonl");
    const raw = await read("raw");
    const agentLogs = readdirSync(join(dataDir, "agents"))
      .filter((f) => f.endsWith(".log"))
      .map((f) => readFileSync(join(dataDir, "agents", f), "utf8"));

    expect(workflows[0]!.status, `${text}\n${agentLogs.join("\n")}`).toBe("success");
    expect(text).toContain("both secrets arrived (lengths");
    expect(text).toContain("careless echo: **** and ****");
    expect(text).toContain("careless base64: ****");

    // The Nomad job spec that would carry this very task.
    expect(scheduler.plans.map((p) => p.taskId)).toContain(taskId);
    const specs = scheduler.plans.map((p) =>
      JSON.stringify(buildTaskJob(toTaskSpecInput(p), jobSpecConfigFromEnv({}))),
    );
    expect(specs.join("")).toContain(taskId);

    const serverLogs = logs.join("");
    expect(serverLogs).toContain("task claimed");
    const haystacks: Record<string, string> = {
      "API responses": responses.join("\n"),
      "stored output (text)": text,
      "stored output (jsonl)": jsonl,
      "stored output (raw)": raw,
      "server logs": serverLogs,
      "agent logs": agentLogs.join("\n"),
      "Nomad job spec": specs.join("\n"),
    };
    for (const [where, hay] of Object.entries(haystacks)) {
      expect(hay.length, where).toBeGreaterThan(0);
      for (const secret of [PROJECT_SECRET, CONTEXT_SECRET]) {
        for (const form of forms(secret)) {
          expect(
            hay.includes(form),
            `${where} holds ${form === secret ? "a secret" : "its base64"}`,
          ).toBe(false);
        }
      }
    }
  });
});
