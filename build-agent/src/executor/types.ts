import type { Duplex, Readable } from "node:stream";
import type { OutputStream } from "../output/sink.js";
import type { SessionProcess } from "../ssh/server.js";

export interface ExecRequest {
  argv: string[];
  env?: Record<string, string>;
  /** Absolute directory inside the job environment. */
  workdir?: string;
  /** Output as it is read; while a returned promise is pending, the command's output is not read. */
  onOutput?: (stream: OutputStream, data: string) => void | Promise<void>;
  /** Kill the command when it prints nothing for this long. */
  noOutputTimeoutMs?: number;
}

export interface ExecResult {
  exitCode: number | null;
  /** Killed by `noOutputTimeoutMs`. */
  timedOut: boolean;
  /** Killed by `kill()`. */
  killed: boolean;
}

export interface ExecHandle {
  readonly result: Promise<ExecResult>;
  /** Kills the command and everything it started (idempotent). */
  kill(): Promise<void>;
}

/** Facts about the primary container, learnt in `setup`. */
export interface EnvironmentInfo {
  home: string;
  /** `uname -m` of the primary. */
  machine: string;
  /** Default shell argv for `run` steps. */
  shell: string[];
  /** The job's working directory, `~` expanded. */
  workingDirectory: string;
  /** Service containers, in config order (their logs: `serviceLogs(i, ...)`). */
  services: Array<{ image: string; name?: string }>;
  /** The primary's user, for files the agent copies in. */
  uid: number;
  gid: number;
}

/**
 * Where a task's steps run. Lifecycle: `setup` once (creates the environment; on failure it throws
 * an infrastructure error and the caller still calls `destroy`), then any number of `exec`,
 * `getArchive`, `putArchive`, possibly concurrently, then `destroy`, which is idempotent and safe to
 * call whether or not `setup` finished.
 */
export interface Executor {
  setup(log: (line: string) => void): Promise<EnvironmentInfo>;
  exec(req: ExecRequest): ExecHandle;
  /** A tar of `path` (its basename is the root entry), or undefined when it does not exist. */
  getArchive(path: string): Promise<Readable | undefined>;
  /** Extracts a tar into the existing directory `dir`. */
  putArchive(dir: string, tar: Readable): Promise<void>;
  /** Follows service `index`'s output until `stop` (or the container ends). */
  serviceLogs(
    index: number,
    onOutput: (stream: OutputStream, data: string) => void,
  ): { stop(): void };
  /**
   * Lets a rerun-with-SSH user into a machine job's machine (its own OpenSSH); machine executor
   * only. Returns what to connect to and the host key's fingerprint.
   */
  enableRerunSsh?(
    authorizedKeys: string[],
  ): Promise<{ host: string; port: number; user: string; hostKeyFingerprint: string }>;
  /**
   * A process for an SSH session of a rerun with SSH: `command` through the shell (a login shell
   * when absent), stdin attached, a PTY when `pty` is given. Docker executor only; machines have
   * their own OpenSSH.
   */
  interactive?(req: {
    command?: string;
    pty?: { term: string; cols: number; rows: number };
    env: Record<string, string>;
    workdir: string;
    shell: string;
  }): Promise<SessionProcess>;
  /** A TCP connection to `port` of the job's primary container (`ssh -L`). Docker executor only. */
  connectToJob?(port: number): Promise<Duplex>;
  /**
   * Joins a container of the same Docker engine (a `local` machine of `setup_remote_docker`) to the
   * job's network under `alias`; it is detached again in `destroy`. Docker executor only.
   */
  attachContainer?(containerId: string, alias: string): Promise<void>;
  destroy(): Promise<void>;
}

/** Expands a leading `~` and resolves a relative path against `base`. */
export function expandPath(path: string, home: string, base: string): string {
  let p = path;
  if (p === "~") p = home;
  else if (p.startsWith("~/")) p = `${home}${p.slice(1)}`;
  if (!p.startsWith("/")) p = `${base.replace(/\/$/, "")}/${p}`;
  const parts: string[] = [];
  for (const seg of p.split("/")) {
    if (!seg || seg === ".") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return `/${parts.join("/")}`;
}

/**
 * The environment probe every executor runs once in `setup`: `sh -c PROBE <working_directory>`
 * creates the working directory (`~` expanded) and prints, one per line: home, `uname -m`,
 * the shell (`bash` or `sh`), the expanded working directory, uid and gid.
 */
export const PROBE = [
  'wd="$0"',
  'case "$wd" in "~") wd="$HOME";; "~/"*) wd="$HOME/${wd#\\~/}";; esac',
  'mkdir -p "$wd"',
  'echo "$HOME"',
  "uname -m",
  "if [ -x /bin/bash ]; then echo bash; else echo sh; fi",
  'echo "$wd"',
  "id -u",
  "id -g",
].join("; ");
