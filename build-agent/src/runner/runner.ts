import type { Logger } from "pino";
import {
  TaskApiError,
  type MachineLeaseInfo,
  type StepStatus,
  type TaskEvent,
  type TaskResult,
  type TaskSpec,
} from "@drover/task-api";
import { AgentError, errorMessage } from "../errors.js";
import type { EnvironmentInfo, ExecHandle, Executor } from "../executor/types.js";
import type { OutputSink } from "../output/sink.js";
import { saveCache, restoreCache } from "../steps/cache.js";
import { checkout } from "../steps/checkout.js";
import {
  jobPath,
  mkdirp,
  type StepContext,
  type StepOutcome,
  type StorageApi,
} from "../steps/context.js";
import { setupRemoteDocker } from "../steps/remote-docker.js";
import {
  NO_KEYS_MESSAGE,
  enableSsh,
  sshInstructions,
  waitForSsh,
  type RerunSshConfig,
  type SshAccess,
} from "../ssh/rerun.js";
import { storeArtifacts, storeTestResults } from "../steps/results.js";
import { attachWorkspace, persistToWorkspace } from "../steps/workspace.js";
import { withTimeout } from "../util/time.js";
import { jobEnvironment } from "./environment.js";

type Step = TaskSpec["steps"][number];
type RunStep = Extract<Step, { type: "run" }>;

export interface RunnerDeps {
  task: TaskSpec;
  executor: Executor;
  storage: StorageApi;
  /** Delivers task events to the control plane (in order; idempotent per event). */
  sendEvents(events: TaskEvent[]): Promise<void>;
  /** Already masking. */
  sink: OutputSink;
  logger: Logger;
  /** Aborted on SIGTERM: the running step is killed and the task ends `canceled`. */
  signal: AbortSignal;
  /** Masks secrets in text the agent itself sends (event messages, test results); default none. */
  mask?: (text: string) => string;
  /** Leases the task's machine for `setup_remote_docker`; absent, the step fails saying so. */
  leaseRemoteDocker?: () => Promise<MachineLeaseInfo>;
  /** Where a rerun with SSH listens and how long it waits; required when `task.ssh.enabled`. */
  ssh?: RerunSshConfig;
  /** SSH logins and logouts of a rerun with SSH (audited by the control plane). */
  onSshEvent?: (e: { event: "login" | "logout"; fingerprint: string; address: string }) => void;
}

export interface TaskOutcome {
  result: TaskResult;
  message?: string;
}

/**
 * How long the result waits for the output-processor to acknowledge the last output: long enough
 * to ride out an output-processor restart or a network cut (the client reconnects and resends),
 * so no line is lost; a job whose output-processor never answered does not wait (the sink gives
 * up after its connect grace).
 */
const FLUSH_TIMEOUT_MS = 60_000;

/** The synthetic first step, as CircleCI shows it. */
export const SPIN_UP_STEP = -1;
/** Synthetic steps of a rerun with SSH: before the job's steps, and after them. */
export const ENABLE_SSH_STEP = -2;
export const WAIT_SSH_STEP = -3;
/** Synthetic steps showing service container `i`'s output (0-based): -11, -12, ... */
export const serviceStep = (i: number): number => -11 - i;

function isInfrastructure(err: unknown): boolean {
  return (err instanceof AgentError && err.infrastructure) || err instanceof TaskApiError;
}

/** `10m0s`, as CircleCI prints durations. */
function goDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  return `${h ? `${h}h` : ""}${h || m ? `${m}m` : ""}${s % 60}s`;
}

interface Background {
  index: number;
  handle: ExecHandle;
  started: number;
  done: Promise<void>;
  finished: boolean;
}

/**
 * Runs one task: sets up the executor ("Spin up environment"), walks the steps honoring `when`,
 * reports step_started/step_finished and finally task_finished. It never destroys the executor:
 * the caller does, whatever happened.
 */
export class Runner {
  private readonly log: Logger;
  private readonly background: Background[] = [];
  private current: ExecHandle | undefined;
  private failed = false;
  private readonly mask: (text: string) => string;

  constructor(private readonly deps: RunnerDeps) {
    this.log = deps.logger.child({ taskId: deps.task.taskId, jobId: deps.task.job.id });
    this.mask = deps.mask ?? ((t) => t);
    deps.signal.addEventListener("abort", () => void this.current?.kill(), { once: true });
  }

  async run(): Promise<TaskOutcome> {
    const outcome = await this.runSteps();
    // Output delivery holds the result back at most FLUSH_TIMEOUT_MS.
    const flushed = await withTimeout(
      this.deps.sink.flush().then(
        () => true,
        () => false,
      ),
      FLUSH_TIMEOUT_MS,
    );
    if (!flushed)
      this.log.warn("step output was not acknowledged in time; the log may be incomplete");
    this.deps.sink.taskFinished(outcome.result);
    await this.event({
      type: "task_finished",
      result: outcome.result,
      ...(outcome.message ? { message: this.mask(outcome.message) } : {}),
      at: new Date().toISOString(),
    });
    this.log.info(
      { result: outcome.result, message: outcome.message && this.mask(outcome.message) },
      "task finished",
    );
    return outcome;
  }

  private async runSteps(): Promise<TaskOutcome> {
    const { task, executor } = this.deps;
    let info: EnvironmentInfo;
    const spinStart = Date.now();
    try {
      await this.started(SPIN_UP_STEP, "Spin up environment");
      info = await executor.setup((line) => this.deps.sink.write(SPIN_UP_STEP, "stdout", line));
      await this.finished(SPIN_UP_STEP, "success", 0, spinStart);
    } catch (err) {
      const message = errorMessage(err);
      this.deps.sink.write(SPIN_UP_STEP, "stderr", `${message}\n`);
      await this.finished(SPIN_UP_STEP, "failed", null, spinStart, message).catch(() => undefined);
      return { result: "infrastructure_fail", message };
    }
    const env = jobEnvironment(task);
    const serviceLogs: Array<{ stop(): void; step: number; start: number }> = [];
    for (const [i, svc] of info.services.entries()) {
      const step = serviceStep(i);
      await this.started(step, `Container ${svc.image}${svc.name ? ` (${svc.name})` : ""}`);
      const logs = executor.serviceLogs(i, (stream, data) =>
        this.deps.sink.write(step, stream, data, new Date()),
      );
      serviceLogs.push({ ...logs, step, start: Date.now() });
    }
    let infra: string | undefined;
    const ssh = task.ssh.enabled ? await this.enableSsh(info, env) : undefined;
    for (const [index, step] of task.steps.entries()) {
      if (this.deps.signal.aborted) break;
      const run =
        step.when === "always" || (step.when === "on_fail" ? this.failed : !this.failed && !infra);
      if (!run) {
        await this.started(index, step.name);
        await this.finished(index, "skipped", null, Date.now());
        continue;
      }
      const ctx: StepContext = {
        task,
        executor,
        info,
        storage: this.deps.storage,
        env,
        mask: this.mask,
        log: (text) => this.deps.sink.write(index, "stdout", text),
      };
      const start = Date.now();
      await this.started(index, step.name);
      let outcome: StepOutcome;
      try {
        if (step.type === "run" && step.background) {
          await this.startBackground(index, step, ctx);
          continue;
        }
        outcome = await this.runStep(index, step, ctx);
      } catch (err) {
        const message = errorMessage(err);
        this.log.warn({ err, step: index }, "step errored");
        this.deps.sink.write(index, "stderr", `${message}\n`);
        outcome = { status: "failed", exitCode: null, message };
        if (isInfrastructure(err)) infra ??= `step '${step.name}': ${message}`;
      }
      if (outcome.status === "failed" || outcome.status === "timedout") this.failed = true;
      await this.finished(index, outcome.status, outcome.exitCode, start, outcome.message);
    }
    await this.stopBackground();
    if (ssh) await this.waitForSsh(ssh);
    for (const s of serviceLogs) {
      s.stop();
      await this.finished(s.step, "success", null, s.start);
    }
    if (this.deps.signal.aborted) return { result: "canceled", message: "the task was canceled" };
    if (infra) return { result: "infrastructure_fail", message: infra };
    return { result: this.failed ? "failed" : "success" };
  }

  /** "Enable SSH": opens the way in and prints it; a failure fails the job (no keys, say). */
  private async enableSsh(
    info: EnvironmentInfo,
    env: Record<string, string>,
  ): Promise<SshAccess | undefined> {
    const start = Date.now();
    await this.started(ENABLE_SSH_STEP, "Enable SSH");
    const fail = async (message: string) => {
      this.deps.sink.write(ENABLE_SSH_STEP, "stderr", `${message}\n`);
      this.failed = true;
      await this.finished(ENABLE_SSH_STEP, "failed", null, start, message);
      return undefined;
    };
    if (this.deps.task.ssh.refused) return fail(this.deps.task.ssh.refused);
    if (this.deps.task.ssh.authorizedKeys.length === 0) return fail(NO_KEYS_MESSAGE);
    if (!this.deps.ssh) return fail("this agent is not configured for SSH reruns");
    try {
      const access = await enableSsh({
        task: this.deps.task,
        executor: this.deps.executor,
        info,
        env,
        config: this.deps.ssh,
        logger: this.log,
        ...(this.deps.onSshEvent ? { audit: this.deps.onSshEvent } : {}),
      });
      this.deps.sink.write(ENABLE_SSH_STEP, "stdout", sshInstructions(access));
      await this.finished(ENABLE_SSH_STEP, "success", 0, start);
      return access;
    } catch (err) {
      return fail(`SSH could not be enabled: ${errorMessage(err)}`);
    }
  }

  /** "Wait for SSH": the connection line again, then the wait policy (cancel ends it at once). */
  private async waitForSsh(access: SshAccess): Promise<void> {
    const start = Date.now();
    await this.started(WAIT_SSH_STEP, "Wait for SSH sessions");
    const write = (text: string) => this.deps.sink.write(WAIT_SSH_STEP, "stdout", text);
    write(sshInstructions(access));
    const l = this.deps.ssh!.limits;
    write(
      `This job stays up ${Math.round(l.firstConnectMs / 60_000)} min for a first connection, ` +
        `then while sessions are open and ${Math.round(l.idleMs / 60_000)} min after the last, ` +
        `at most ${Math.round(l.maxMs / 60_000)} min.\n`,
    );
    const why = await waitForSsh(access, this.deps.signal, write);
    write(`Ending the SSH wait: ${why}\n`);
    await access.close().catch(() => undefined);
    await this.finished(WAIT_SSH_STEP, "success", 0, start);
  }

  private async runStep(index: number, step: Step, ctx: StepContext): Promise<StepOutcome> {
    switch (step.type) {
      case "run": {
        const handle = await this.execRun(index, step, ctx);
        this.current = handle;
        if (this.deps.signal.aborted) void handle.kill();
        const r = await handle.result;
        this.current = undefined;
        return this.runOutcome(index, step, r);
      }
      case "checkout":
        return checkout(ctx, step);
      case "save_cache":
        return saveCache(ctx, step);
      case "restore_cache":
        return restoreCache(ctx, step);
      case "persist_to_workspace":
        return persistToWorkspace(ctx, step);
      case "attach_workspace":
        return attachWorkspace(ctx, step);
      case "store_artifacts":
        return storeArtifacts(ctx, step);
      case "store_test_results":
        return storeTestResults(ctx, step);
      case "add_ssh_keys":
        ctx.log("No SSH keys are configured for this project on this agent; nothing added\n");
        return { status: "success", exitCode: 0 };
      case "setup_remote_docker":
        return setupRemoteDocker(ctx, step, this.deps.leaseRemoteDocker);
    }
  }

  private runOutcome(
    index: number,
    step: RunStep,
    r: { exitCode: number | null; timedOut: boolean; killed: boolean },
  ): StepOutcome {
    if (r.timedOut) {
      const message = `Too long with no output (exceeded ${goDuration(step.noOutputTimeoutMs)}): context deadline exceeded`;
      this.deps.sink.write(index, "stderr", `\n${message}\n`);
      return { status: "timedout", exitCode: r.exitCode, message };
    }
    if (r.killed) return { status: "canceled", exitCode: r.exitCode, message: "canceled" };
    if (r.exitCode === 0) return { status: "success", exitCode: 0 };
    this.deps.sink.write(index, "stderr", `\nExited with code exit status ${r.exitCode}\n`);
    return { status: "failed", exitCode: r.exitCode };
  }

  private async execRun(index: number, step: RunStep, ctx: StepContext): Promise<ExecHandle> {
    const workdir = step.workingDirectory
      ? jobPath(ctx, step.workingDirectory)
      : ctx.info.workingDirectory;
    if (step.workingDirectory) await mkdirp(ctx, workdir);
    const shell = step.shell ? step.shell.split(/\s+/).filter(Boolean) : ctx.info.shell;
    return this.deps.executor.exec({
      argv: [...shell, "-c", step.command],
      env: { ...ctx.env, ...step.environment },
      workdir,
      noOutputTimeoutMs: step.noOutputTimeoutMs,
      onOutput: (stream, data) => {
        this.deps.sink.write(index, stream, data, new Date());
        return this.deps.sink.whenWritable?.();
      },
    });
  }

  private async startBackground(index: number, step: RunStep, ctx: StepContext): Promise<void> {
    const handle = await this.execRun(index, step, ctx);
    const started = Date.now();
    const bg: Background = { index, handle, started, finished: false, done: Promise.resolve() };
    bg.done = handle.result.then(
      async (r) => {
        bg.finished = true;
        const o = this.runOutcome(index, step, r);
        if (o.status === "canceled")
          o.status = "success"; // stopped at the end of the job
        // A background step that fails on its own fails the job, like any other step.
        else if (o.status === "failed" || o.status === "timedout") this.failed = true;
        await this.finished(index, o.status, r.exitCode, started, o.message);
      },
      async (err: unknown) => {
        bg.finished = true;
        await this.finished(index, "failed", null, started, errorMessage(err));
      },
    );
    this.background.push(bg);
  }

  private async stopBackground(): Promise<void> {
    for (const bg of this.background) {
      if (!bg.finished) {
        this.deps.sink.write(
          bg.index,
          "stdout",
          "\nStopping background step at the end of the job\n",
        );
        await bg.handle.kill();
      }
    }
    await Promise.all(this.background.map((b) => b.done.catch(() => undefined)));
  }

  private async started(step: number, name: string): Promise<void> {
    this.deps.sink.stepStarted(step, name);
    await this.event({ type: "step_started", step, name, at: new Date().toISOString() });
  }

  private async finished(
    step: number,
    status: StepStatus,
    exitCode: number | null,
    start: number,
    message?: string,
  ): Promise<void> {
    this.deps.sink.stepFinished(step, exitCode, status);
    await this.event({
      type: "step_finished",
      step,
      status,
      exitCode,
      durationMs: Math.max(0, Date.now() - start),
      ...(message ? { message: this.mask(message) } : {}),
      at: new Date().toISOString(),
    });
  }

  private async event(e: TaskEvent): Promise<void> {
    await this.deps.sendEvents([e]);
  }
}
