/** A real control plane (HTTP on a free port) over a test database, and git fixture repos. */
import { execFileSync } from "node:child_process";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import {
  serverConfigSchema,
  startControlPlane,
  type ComposeOptions,
  type ControlPlane,
  type SchedulerBackend,
} from "@drover/control-plane";
import { DroverClient } from "@drover/cli";
import type { Database } from "@drover/control-plane/db";
import { logger } from "./harness.js";

export const CONFIG = `version: 2.1
jobs:
  build:
    docker: [{image: drover/debian:bookworm}]
    steps:
      - run: echo building
  test:
    docker: [{image: drover/debian:bookworm}]
    parallelism: 2
    steps:
      - run: {name: unit tests, command: "echo testing"}
workflows:
  main:
    jobs:
      - build
      - test: {requires: [build]}
`;

export async function startTestServer(
  db: Database,
  scheduler: SchedulerBackend,
  extra: Partial<ComposeOptions> & { configOverrides?: Record<string, unknown> } = {},
): Promise<{ cp: ControlPlane; admin: DroverClient; dataDir: string }> {
  const dataDir = mkdtempSync(join(tmpdir(), "drover-cp-"));
  const { configOverrides, ...rest } = extra;
  const cp = await startControlPlane({
    config: serverConfigSchema.parse({
      port: 0,
      dataDir,
      tickIntervalMs: 0,
      scheduleTickMs: 0,
      ...configOverrides,
    }),
    logger,
    db,
    scheduler,
    ...rest,
  });
  const token = cp.bootstrapToken;
  if (!token) throw new Error("expected a bootstrap token on a fresh database");
  return { cp, admin: new DroverClient(cp.url, token), dataDir };
}

/** A git repository with the given files committed on `main`; returns its file:// URL and head. */
export function makeRepo(files: Record<string, string>): {
  url: string;
  dir: string;
  head: string;
} {
  const dir = mkdtempSync(join(tmpdir(), "drover-repo-"));
  const git = (...args: string[]) =>
    execFileSync("git", args, {
      cwd: dir,
      env: {
        ...process.env,
        GIT_AUTHOR_NAME: "t",
        GIT_AUTHOR_EMAIL: "t@example.invalid",
        GIT_COMMITTER_NAME: "t",
        GIT_COMMITTER_EMAIL: "t@example.invalid",
      },
    })
      .toString()
      .trim();
  git("init", "-q", "-b", "main");
  commitFiles(dir, files, "initial commit");
  return { url: `file://${dir}`, dir, head: git("rev-parse", "HEAD") };
}

export function commitFiles(dir: string, files: Record<string, string>, message: string): string {
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, path)), { recursive: true });
    writeFileSync(join(dir, path), text);
  }
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@example.invalid",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@example.invalid",
  };
  execFileSync("git", ["add", "-A"], { cwd: dir, env });
  execFileSync("git", ["commit", "-q", "-m", message], { cwd: dir, env });
  return execFileSync("git", ["rev-parse", "HEAD"], { cwd: dir }).toString().trim();
}

/** Raw HTTP for status-code tests. */
export async function http(
  url: string,
  method: string,
  path: string,
  opts: {
    token?: string;
    bearer?: string;
    body?: unknown;
    raw?: string | Buffer;
    headers?: Record<string, string>;
  } = {},
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- tests read arbitrary response shapes
): Promise<{ status: number; body: any; headers: Headers }> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.token) headers["circle-token"] = opts.token;
  if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`;
  let body: string | Buffer | undefined;
  if (opts.raw !== undefined) {
    body = opts.raw;
    headers["content-type"] ??= "application/json";
  } else if (opts.body !== undefined) {
    body = JSON.stringify(opts.body);
    headers["content-type"] = "application/json";
  }
  const res = await fetch(new URL(path, url), {
    method,
    headers,
    ...(body !== undefined ? { body } : {}),
  });
  const text = await res.text();
  let parsed: unknown = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // not JSON
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A fresh ed25519 public key in OpenSSH format. */
export function ed25519Key(comment = "me@laptop"): string {
  const { publicKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const str = (b: Buffer) => {
    const len = Buffer.alloc(4);
    len.writeUInt32BE(b.length);
    return Buffer.concat([len, b]);
  };
  const blob = Buffer.concat([str(Buffer.from("ssh-ed25519")), str(raw)]);
  return `ssh-ed25519 ${blob.toString("base64")} ${comment}`;
}
