import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, openSync, closeSync } from "node:fs";
import { readdir, readFile, rm, writeFile } from "node:fs/promises";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import type { Logger } from "pino";
import { withoutSecretStoreEnv } from "../../secrets/redact.js";
import {
  SchedulerUnavailableError,
  type SchedulerBackend,
  type TaskPlan,
  type TaskState,
  type TaskStatusEvent,
} from "../types.js";

export interface LocalSchedulerOptions {
  logger: Logger;
  /** Where per-task state (`<taskId>.json`, pid) and agent logs (`<taskId>.log`) live. */
  stateDir: string;
  /** Agent command; default `node <@drover/build-agent>/bin/drover-agent.js`. */
  agentCommand?: string[];
  /**
   * The environment agents start from; default this process's, scrubbed by `agentEnv` (no
   * database URL, master key, Vault or API credentials).
   */
  baseEnv?: Record<string, string | undefined>;
  /** Extra environment for agents. */
  env?: Record<string, string>;
  /**
   * Removes containers of dead agents (`<agent> sweep`) when the scheduler starts and after an
   * agent exits without reporting (killed, or could not start). `true` runs the agent command
   * with `sweep`; an array is the command itself. Default off.
   */
  sweep?: boolean | string[];
  /** Grace between SIGTERM and SIGKILL on cancel (default 10 s). */
  killGraceMs?: number;
  /** How often adopted processes (from before a restart) are polled (default 1 s). */
  pollMs?: number;
}

interface Tracked {
  pid: number | undefined;
  child?: ChildProcess;
  state: TaskState;
  poll?: NodeJS.Timeout;
  kill?: NodeJS.Timeout;
}

/** The build agent's entry, resolved at run time (build-agent depends on us, not the reverse). */
export function defaultAgentCommand(): string[] {
  const req = createRequire(import.meta.url);
  const pkg = req.resolve("@drover/build-agent/package.json");
  return [process.execPath, join(dirname(pkg), "bin", "drover-agent.js")];
}

const SWEEP_TIMEOUT_MS = 120_000;

/** Variables never handed to an agent: credentials of the control plane itself. */
const AGENT_ENV_DENY = [
  "DATABASE_URL",
  "DROVER_MASTER_KEY",
  "DROVER_TOKEN",
  "DROVER_OUTPUT_TOKEN_SECRET",
  "DROVER_OUTPUT_READ_TOKEN",
  "DROVER_PUSHER_APP_SECRET",
  "NOMAD_TOKEN",
  "REDIS_URL",
  // The server's own key and certificate: agents verify with DROVER_TLS_CA only.
  "DROVER_TLS_KEY",
  "DROVER_TLS_CERT",
];

/**
 * The environment an agent starts from: `env` without the secret store's credentials, the
 * database URL and any token of the control plane. The task's own token and URLs are added by
 * `submit`; project and context secrets arrive only in the claim response.
 */
export function agentEnv(env: Record<string, string | undefined>): Record<string, string> {
  const copy = withoutSecretStoreEnv(env);
  for (const name of AGENT_ENV_DENY) delete copy[name];
  for (const name of Object.keys(copy)) {
    if (/^(VAULT_|DROVER_VAULT_)/.test(name) || /_(TOKEN|SECRET|PASSWORD)$/.test(name)) {
      delete copy[name];
    }
  }
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(copy)) if (v !== undefined) out[k] = v;
  return out;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/**
 * The `local` backend: one agent child process per task on this machine. Agents run in their
 * own process group with output in `<stateDir>/<taskId>.log`, so they outlive a control-plane
 * restart; the pid file lets the next start adopt them (`reconcile`).
 */
export class LocalScheduler implements SchedulerBackend {
  readonly name = "local" as const;
  private readonly tasks = new Map<string, Tracked>();
  private readonly listeners = new Set<(e: TaskStatusEvent) => void>();
  private readonly log: Logger;
  private closed = false;
  private sweeping: Promise<void> | undefined;
  private sweepAgain = false;
  private sweeper: ChildProcess | undefined;

  constructor(private readonly opts: LocalSchedulerOptions) {
    this.log = opts.logger.child({ unit: "scheduler-local" });
    mkdirSync(opts.stateDir, { recursive: true });
    if (opts.sweep) this.sweep("scheduler start");
  }

  private agentBaseEnv(): Record<string, string> {
    return agentEnv(this.opts.baseEnv ?? process.env);
  }

  /** Runs the sweeper once (coalescing requests that arrive while one runs). */
  private sweep(why: string): void {
    if (!this.opts.sweep || this.closed) return;
    if (this.sweeping) {
      this.sweepAgain = true;
      return;
    }
    let command: string[];
    try {
      command = Array.isArray(this.opts.sweep)
        ? this.opts.sweep
        : [...(this.opts.agentCommand ?? defaultAgentCommand()), "sweep"];
    } catch (err) {
      this.log.warn({ err }, "cannot find the build agent to sweep with");
      return;
    }
    const [file, ...args] = command;
    if (!file) return;
    this.sweeping = new Promise<void>((resolve) => {
      let out = "";
      const child = spawn(file, args, {
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...this.agentBaseEnv(), ...this.opts.env },
      });
      this.sweeper = child;
      // Never keeps the process alive, and never runs forever.
      child.unref();
      for (const s of [child.stdout, child.stderr] as Array<{ unref?: () => void }>) s.unref?.();
      const limit = setTimeout(() => child.kill("SIGKILL"), SWEEP_TIMEOUT_MS);
      limit.unref();
      child.once("exit", () => clearTimeout(limit));
      child.stdout.on("data", (d: Buffer) => (out += d.toString()));
      child.stderr.on("data", (d: Buffer) => (out += d.toString()));
      child.once("error", (err) => {
        this.log.warn({ err, why }, "sweeper failed to start");
        resolve();
      });
      child.once("close", (code) => {
        const summary = out.trim().slice(-500);
        if (code === 0) this.log.info({ why, result: summary }, "swept orphaned containers");
        else this.log.warn({ why, code, output: summary }, "sweeper failed");
        resolve();
      });
    }).finally(() => {
      this.sweeping = undefined;
      this.sweeper = undefined;
      if (this.sweepAgain) {
        this.sweepAgain = false;
        this.sweep(why);
      }
    });
  }

  /** Resolves when no sweep is running (tests). */
  async sweepIdle(): Promise<void> {
    while (this.sweeping) await this.sweeping;
  }

  private emit(taskId: string, state: TaskState): void {
    const t = this.tasks.get(taskId);
    if (t) t.state = state;
    for (const l of this.listeners) {
      try {
        l({ taskId, status: state });
      } catch (err) {
        this.log.error({ err, taskId }, "status listener threw");
      }
    }
  }

  async submit(plan: TaskPlan): Promise<void> {
    if (this.closed) throw new SchedulerUnavailableError("local scheduler is closed");
    if (this.tasks.has(plan.taskId)) return;
    let command: string[];
    try {
      command = this.opts.agentCommand ?? defaultAgentCommand();
    } catch (err) {
      throw new SchedulerUnavailableError("cannot find the build agent (@drover/build-agent)", {
        cause: err,
      });
    }
    const [file, ...args] = command;
    if (!file) throw new SchedulerUnavailableError("agentCommand is empty");
    let logFd: number;
    try {
      logFd = openSync(join(this.opts.stateDir, `${plan.taskId}.log`), "a");
    } catch (err) {
      throw new SchedulerUnavailableError(
        `cannot open the agent log in ${this.opts.stateDir}: ${(err as Error).message}`,
        { cause: err },
      );
    }
    const tracked: Tracked = { pid: undefined, state: { state: "queued" } };
    this.tasks.set(plan.taskId, tracked);
    this.emit(plan.taskId, tracked.state);
    let child: ChildProcess;
    try {
      child = spawn(file, args, {
        detached: true,
        stdio: ["ignore", logFd, logFd],
        env: {
          ...this.agentBaseEnv(),
          ...this.opts.env,
          DROVER_TASK_TOKEN: plan.taskToken,
          DROVER_URL: plan.controlPlaneUrl,
          DROVER_OUTPUT_URL: plan.outputUrl,
          DROVER_TASK_ID: plan.taskId,
        },
      });
    } catch (err) {
      // Nothing started (e.g. no processes left): a later submit may.
      this.tasks.delete(plan.taskId);
      throw new SchedulerUnavailableError(`cannot start an agent: ${(err as Error).message}`, {
        cause: err,
      });
    } finally {
      closeSync(logFd);
    }
    tracked.child = child;
    tracked.pid = child.pid;
    child.unref();
    const log = this.log.child({ taskId: plan.taskId, jobId: plan.job.id });
    await new Promise<void>((resolve) => {
      child.once("spawn", () => {
        log.info({ pid: child.pid }, "agent started");
        void writeFile(
          join(this.opts.stateDir, `${plan.taskId}.json`),
          JSON.stringify({ pid: child.pid, startedAt: new Date().toISOString() }),
        ).catch((err: unknown) => log.warn({ err }, "cannot write pid file"));
        this.emit(plan.taskId, {
          state: "running",
          at: new Date().toISOString(),
          host: "localhost",
        });
        resolve();
      });
      child.once("error", (err) => {
        log.error({ err }, "agent failed to start");
        this.emit(plan.taskId, {
          state: "lost",
          at: new Date().toISOString(),
          reason: `agent failed to start: ${err.message}`,
        });
        resolve();
      });
    });
    child.once("exit", (code, signal) => {
      if (tracked.kill) clearTimeout(tracked.kill);
      log.info({ code, signal }, "agent exited");
      // 0 and 1 are the agent's reported success and failure; anything else means it died or
      // never ran its task, and its containers may be left behind.
      if (code !== 0 && code !== 1) this.sweep(`agent of ${plan.taskId} exited ${signal ?? code}`);
      this.emit(plan.taskId, { state: "finished", at: new Date().toISOString(), exitCode: code });
    });
  }

  async cancel(taskId: string): Promise<void> {
    const t = this.tasks.get(taskId);
    if (!t?.pid || t.state.state === "finished" || t.state.state === "lost") return;
    const pid = t.pid;
    const signal = (sig: NodeJS.Signals) => {
      try {
        process.kill(-pid, sig); // the agent's process group
      } catch {
        try {
          process.kill(pid, sig);
        } catch {
          // already gone
        }
      }
    };
    signal("SIGTERM");
    if (!t.kill) {
      t.kill = setTimeout(() => {
        if (alive(pid)) signal("SIGKILL");
      }, this.opts.killGraceMs ?? 10_000);
      t.kill.unref();
    }
  }

  async cleanup(taskId: string): Promise<void> {
    const t = this.tasks.get(taskId);
    if (t?.poll) clearInterval(t.poll);
    if (t && t.state.state !== "finished" && t.state.state !== "lost") return; // still running
    this.tasks.delete(taskId);
    await rm(join(this.opts.stateDir, `${taskId}.json`), { force: true });
  }

  watch(listener: (event: TaskStatusEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async reconcile(activeTaskIds: ReadonlySet<string>): Promise<void> {
    for (const taskId of activeTaskIds) {
      const known = this.tasks.get(taskId);
      if (known) {
        this.emit(taskId, known.state);
        continue;
      }
      const pid = await this.readPid(taskId);
      if (pid !== undefined && alive(pid)) {
        const t: Tracked = {
          pid,
          state: { state: "running", at: new Date().toISOString(), host: "localhost" },
        };
        this.tasks.set(taskId, t);
        this.log.info({ taskId, pid }, "adopted a running agent");
        t.poll = setInterval(() => {
          if (!alive(pid)) {
            clearInterval(t.poll);
            this.emit(taskId, { state: "finished", at: new Date().toISOString(), exitCode: null });
          }
        }, this.opts.pollMs ?? 1_000);
        t.poll.unref();
        this.emit(taskId, t.state);
      } else {
        this.emit(taskId, {
          state: "lost",
          at: new Date().toISOString(),
          reason: "agent process is gone (control plane restarted)",
        });
      }
    }
    // Agents the engine no longer knows: stop them.
    const files = await readdir(this.opts.stateDir).catch(() => [] as string[]);
    for (const f of files) {
      if (!f.endsWith(".json")) continue;
      const taskId = f.slice(0, -5);
      if (activeTaskIds.has(taskId)) continue;
      const pid = await this.readPid(taskId);
      if (pid !== undefined && alive(pid)) {
        this.tasks.set(taskId, { pid, state: { state: "running", at: new Date().toISOString() } });
        await this.cancel(taskId);
      }
      await rm(join(this.opts.stateDir, f), { force: true });
    }
  }

  private async readPid(taskId: string): Promise<number | undefined> {
    try {
      const data = JSON.parse(
        await readFile(join(this.opts.stateDir, `${taskId}.json`), "utf8"),
      ) as { pid?: unknown };
      return typeof data.pid === "number" ? data.pid : undefined;
    } catch {
      return undefined;
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sweepAgain = false;
    this.sweeper?.kill("SIGTERM");
    this.listeners.clear();
    for (const t of this.tasks.values()) {
      if (t.poll) clearInterval(t.poll);
      t.child?.removeAllListeners();
    }
  }

  /** Test helper: whether the task's agent process is alive. */
  isRunning(taskId: string): boolean {
    const pid = this.tasks.get(taskId)?.pid;
    return pid !== undefined && alive(pid);
  }
}
