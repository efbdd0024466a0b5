import { spawn, type ChildProcess } from "node:child_process";
import type { Allocation } from "../client/types.js";
import type { NomadTask } from "../jobspec/schema.js";
import type { LogStore } from "./logs.js";

export interface RunHooks {
  started(allocId: string, task: string): void;
  exited(
    allocId: string,
    task: string,
    exitCode: number | null,
    signal: NodeJS.Signals | null,
    killed: boolean,
  ): void;
  failedToStart(allocId: string, task: string, error: Error): void;
}

/** Runs raw_exec tasks as local processes, the way a Nomad client would. */
export class ProcessRunner {
  readonly #procs = new Map<
    string,
    { proc: ChildProcess; killed: boolean; timer?: NodeJS.Timeout }
  >();

  constructor(
    private readonly logs: LogStore,
    private readonly hooks: RunHooks,
  ) {}

  start(
    alloc: Allocation,
    task: NomadTask,
    nomadEnv: Record<string, string>,
    baseEnv: NodeJS.ProcessEnv = process.env,
  ): void {
    const config = (task.Config ?? {}) as { command?: string; args?: string[]; work_dir?: string };
    if (!config.command) {
      this.hooks.failedToStart(alloc.ID, task.Name, new Error("missing command"));
      return;
    }
    const env = { ...baseEnv, ...nomadEnv, ...(task.Env ?? {}) };
    const proc = spawn(config.command, config.args ?? [], {
      env,
      cwd: config.work_dir,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const k = `${alloc.ID}/${task.Name}`;
    const entry: { proc: ChildProcess; killed: boolean; timer?: NodeJS.Timeout } = {
      proc,
      killed: false,
    };
    this.#procs.set(k, entry);
    proc.stdout?.on("data", (b: Buffer) => this.logs.file(alloc.ID, task.Name, "stdout").append(b));
    proc.stderr?.on("data", (b: Buffer) => this.logs.file(alloc.ID, task.Name, "stderr").append(b));
    proc.once("spawn", () => this.hooks.started(alloc.ID, task.Name));
    proc.once("error", (err) => {
      this.#procs.delete(k);
      this.hooks.failedToStart(alloc.ID, task.Name, err);
    });
    proc.once("close", (code, signal) => {
      clearTimeout(entry.timer);
      this.#procs.delete(k);
      this.hooks.exited(alloc.ID, task.Name, code, signal, entry.killed);
    });
  }

  /** Sends the kill signal, then SIGKILL after the kill timeout. Returns false if not running. */
  kill(allocId: string, task: NomadTask): boolean {
    const entry = this.#procs.get(`${allocId}/${task.Name}`);
    if (!entry) return false;
    entry.killed = true;
    entry.proc.kill((task.KillSignal as NodeJS.Signals | undefined) || "SIGINT");
    const timeoutMs = (task.KillTimeout ?? 5_000_000_000) / 1_000_000;
    entry.timer = setTimeout(() => entry.proc.kill("SIGKILL"), timeoutMs);
    entry.timer.unref();
    return true;
  }

  killAll(): void {
    for (const { proc } of this.#procs.values()) proc.kill("SIGKILL");
  }
}
