import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import Docker from "dockerode";
import { pino } from "pino";
import type { TaskSpec } from "@drover/task-api";
import {
  runAgent,
  defaultExecutorConfig,
  defaultSshConfig,
  parseImageAliases,
  MemorySink,
  type AgentConfig,
} from "@drover/build-agent";
import type { TaskServer } from "./task-server.js";

export const docker = new Docker({ socketPath: "/var/run/docker.sock" });
export const logger = pino({ level: process.env.DROVER_TEST_LOG ?? "silent" });

/** Fails the suite (rather than skipping) when Docker is not there. */
export async function requireDocker(): Promise<void> {
  await docker.ping();
}

type Step = TaskSpec["steps"][number];

export function run(command: string, extra: Partial<Extract<Step, { type: "run" }>> = {}): Step {
  return {
    type: "run",
    name: extra.name ?? command.slice(0, 40),
    when: "on_success",
    command,
    environment: {},
    background: false,
    noOutputTimeoutMs: 600_000,
    ...extra,
  };
}

/** A git repository with one commit; returns its file:// URL and revision. */
export function makeRepo(files: Record<string, string>): {
  url: string;
  revision: string;
  dir: string;
} {
  const dir = mkdtempSync(path.join(os.tmpdir(), "drover-repo-"));
  for (const [name, content] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), content);
  }
  const git = (...args: string[]): string =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@e", ...args], { cwd: dir })
      .toString()
      .trim();
  git("init", "-q", "-b", "main");
  git("add", ".");
  git("commit", "-q", "-m", "first commit");
  return { url: `file://${dir}`, revision: git("rev-parse", "HEAD"), dir };
}

export function makeTask(over: Partial<TaskSpec> = {}): TaskSpec {
  const id = `test-${randomUUID()}`;
  return {
    taskId: id,
    attempt: 1,
    node: { index: 0, total: 1 },
    project: { slug: "gh/acme/demo", org: "acme", repo: "demo", gitUrl: "file:///nonexistent" },
    pipeline: { id: randomUUID(), number: 7, branch: "main", revision: "0".repeat(40) },
    workflow: { id: randomUUID(), name: "build" },
    job: { id: randomUUID(), name: "build", number: 42, url: "http://127.0.0.1/job/42" },
    executor: { type: "docker", images: [{ image: "cimg/base:stable", environment: {} }] },
    steps: [],
    workingDirectory: "~/project",
    resourceClass: "small",
    environment: { project: {}, contexts: {}, job: {} },
    secrets: [],
    ssh: { enabled: false, authorizedKeys: [] },
    output: { url: "ws://127.0.0.1:1", token: "unused" },
    ...over,
  };
}

export function agentConfig(
  server: TaskServer,
  token: string,
  over: Partial<AgentConfig> = {},
): AgentConfig {
  return {
    taskToken: token,
    url: server.url,
    docker: { socketPath: "/var/run/docker.sock" },
    executor: defaultExecutorConfig({ aliases: parseImageAliases("cimg/base:*=drover/ci-base") }),
    logLevel: "silent",
    output: "stdout",
    ssh: defaultSshConfig(),
    ...over,
  };
}

/** Runs one task through the agent in-process; returns the outcome and the captured output. */
export async function runTask(
  server: TaskServer,
  spec: TaskSpec,
  over: Partial<AgentConfig> = {},
  signal?: AbortSignal,
) {
  const sink = new MemorySink();
  const token = server.addTask(spec);
  const outcome = await runAgent({
    config: agentConfig(server, token, over),
    logger,
    signal: signal ?? new AbortController().signal,
    docker,
    sink,
  });
  return { outcome, sink, state: server.state(spec.taskId) };
}

export async function containersOf(taskId: string): Promise<Docker.ContainerInfo[]> {
  return docker.listContainers({ all: true, filters: { label: [`drover.task=${taskId}`] } });
}
