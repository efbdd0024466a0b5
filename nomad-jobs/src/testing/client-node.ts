import {
  driverConfigProblems,
  validationErrorText,
  type ConfigProblem,
} from "../driver-config/index.js";
import type { NomadJob, NomadTask, NomadTaskGroup } from "../jobspec/schema.js";
import type { LogStore } from "./logs.js";
import { ProcessRunner } from "./runner.js";
import {
  isTerminal,
  newTaskState,
  taskEvent,
  type Alloc,
  type NomadState,
  type TestNode,
} from "./state.js";

export interface ClientNodeOptions {
  region: string;
  /** Run raw_exec tasks as local processes. */
  execRawExec: boolean;
  /** The environment raw_exec tasks inherit (default: ours). */
  execEnv?: NodeJS.ProcessEnv;
}

/**
 * The Nomad client side of the test server: receives placed allocations, decodes each task's
 * driver config as Nomad's task runner does (a config that does not fit fails the task with
 * "Failed Validation"), runs raw_exec tasks as processes when asked, and reports task states.
 * Tests drive the other allocations (`run`, `complete`, `fail`, `lose`).
 */
export class ClientNode {
  readonly #runner: ProcessRunner;

  constructor(
    private readonly state: NomadState,
    private readonly logs: LogStore,
    private readonly opts: ClientNodeOptions,
  ) {
    this.#runner = new ProcessRunner(logs, {
      started: (allocId, task) => this.#taskStarted(allocId, task),
      exited: (allocId, task, code, signal, killed) =>
        this.#taskExited(allocId, task, code, signal, killed),
      failedToStart: (allocId, task, err) =>
        this.fail(allocId, { driverError: `failed to launch command: ${err.message}`, task }),
    });
  }

  /** A newly placed allocation reaches the client. */
  receive(alloc: Alloc, job: NomadJob, group: NomadTaskGroup, node: TestNode): void {
    const invalid = new Map<string, ConfigProblem[]>();
    for (const task of group.Tasks) {
      const problems = driverConfigProblems(task.Driver, task.Config);
      if (problems?.length) invalid.set(task.Name, problems);
    }
    if (invalid.size > 0) {
      this.#failValidation(alloc, job, group, invalid);
      return;
    }
    if (!this.opts.execRawExec) return;
    for (const task of group.Tasks) {
      if (task.Driver === "raw_exec")
        this.#runner.start(
          alloc,
          task,
          this.#nomadEnv(alloc, job, group, task, node),
          this.opts.execEnv,
        );
    }
  }

  /** The allocation's tasks started. */
  run(allocId: string): void {
    const a = this.state.alloc(allocId);
    if (isTerminal(a.ClientStatus))
      throw new Error(
        `allocation ${allocId} is ${a.ClientStatus}: ${a.ClientDescription || "it cannot run"}`,
      );
    for (const task of Object.keys(a.TaskStates ?? {})) this.#taskStarted(allocId, task);
  }

  /** Every task exited with this code (0: complete, else failed). */
  complete(allocId: string, exitCode: number): void {
    const a = this.state.alloc(allocId);
    for (const task of Object.keys(a.TaskStates ?? {}))
      this.#taskExited(allocId, task, exitCode, null, false);
  }

  /** A task failed (driver error or non-zero exit); the allocation fails. */
  fail(
    allocId: string,
    opts: { exitCode?: number; driverError?: string; message?: string; task?: string } = {},
  ): void {
    const a = this.state.alloc(allocId);
    const tasks = opts.task ? [opts.task] : Object.keys(a.TaskStates ?? {});
    this.state.updateAlloc(a, "AllocationUpdated", (alloc) => {
      for (const t of tasks) {
        const ts = alloc.TaskStates![t] ?? newTaskState();
        const events = ts.Events ?? [];
        if (opts.driverError) {
          events.push(
            taskEvent("Driver Failure", {
              DriverError: opts.driverError,
              FailsTask: true,
              DisplayMessage: opts.driverError,
            }),
          );
        } else {
          const code = opts.exitCode ?? 1;
          const msg = opts.message ?? `Exit Code: ${code}`;
          events.push(
            taskEvent("Terminated", {
              ExitCode: code,
              Message: opts.message ?? "",
              DisplayMessage: msg,
            }),
          );
        }
        events.push(
          taskEvent("Not Restarting", {
            FailsTask: true,
            DisplayMessage: "Policy allows no restarts",
          }),
        );
        alloc.TaskStates![t] = {
          ...ts,
          State: "dead",
          Failed: true,
          FinishedAt: new Date().toISOString(),
          Events: events,
        };
      }
      alloc.ClientStatus = "failed";
      alloc.ClientDescription = "Failed tasks";
    });
    this.logs.finish(allocId);
  }

  /** The allocation's node went down. */
  lose(allocId: string): void {
    const a = this.state.alloc(allocId);
    this.state.updateAlloc(a, "AllocationUpdated", (alloc) => {
      alloc.ClientStatus = "lost";
      alloc.ClientDescription = "alloc is lost since its node is down";
      alloc.DesiredDescription = "alloc is lost since its node is down";
      for (const ts of Object.values(alloc.TaskStates ?? {})) {
        ts.State = "dead";
        ts.Events = [
          ...(ts.Events ?? []),
          taskEvent("Lost", { DisplayMessage: "Task lost: node down" }),
        ];
      }
    });
    this.logs.finish(allocId);
  }

  /** Desired stop: the client kills the tasks and marks the allocation complete. */
  stop(a: Alloc, why: string): void {
    if (isTerminal(a.ClientStatus)) {
      if (a.DesiredStatus !== "stop")
        this.state.updateAlloc(
          a,
          "AllocationUpdateDesiredStatus",
          (x) => ((x.DesiredStatus = "stop"), (x.DesiredDescription = why)),
        );
      return;
    }
    this.state.updateAlloc(a, "AllocationUpdateDesiredStatus", (x) => {
      x.DesiredStatus = "stop";
      x.DesiredDescription = why;
    });
    const job = this.state.job(a.Namespace, a.JobID)?.job;
    const group = job?.TaskGroups?.find((g) => g.Name === a.TaskGroup);
    let running = false;
    for (const task of group?.Tasks ?? []) if (this.#runner.kill(a.ID, task)) running = true;
    if (running) return; // #taskExited completes it
    this.state.updateAlloc(a, "AllocationUpdated", (x) => {
      x.ClientStatus = "complete";
      x.ClientDescription = "All tasks have completed";
      for (const ts of Object.values(x.TaskStates ?? {})) {
        ts.Events = [
          ...(ts.Events ?? []),
          taskEvent("Killing", { KillReason: why, DisplayMessage: "Sent interrupt" }),
          taskEvent("Killed", { DisplayMessage: "Task successfully killed" }),
        ];
        ts.State = "dead";
        ts.FinishedAt = new Date().toISOString();
      }
    });
    this.logs.finish(a.ID);
  }

  /** Kills every process it runs. */
  killAll(): void {
    this.#runner.killAll();
  }

  /**
   * The task runner could not decode a driver config (task_runner.go runDriver): the task gets
   * "Failed Validation" and, as the error is not recoverable, "Not Restarting"; its siblings are
   * killed and the allocation fails.
   */
  #failValidation(
    alloc: Alloc,
    job: NomadJob,
    group: NomadTaskGroup,
    invalid: Map<string, ConfigProblem[]>,
  ): void {
    const now = new Date().toISOString();
    const failed = [...invalid.keys()][0]!;
    this.state.updateAlloc(alloc, "AllocationUpdated", (x) => {
      for (const task of group.Tasks) {
        const ts = x.TaskStates![task.Name] ?? newTaskState();
        const problems = invalid.get(task.Name);
        const received = [
          taskEvent("Received", { DisplayMessage: "Task received by client" }),
          taskEvent("Task Setup", {
            Message: "Building Task Directory",
            DisplayMessage: "Building Task Directory",
          }),
        ];
        const events = problems
          ? [
              taskEvent("Failed Validation", {
                ValidationError: validationErrorText(problems),
                DisplayMessage: validationErrorText(problems),
              }),
              taskEvent("Not Restarting", {
                FailsTask: true,
                RestartReason: restartReason(job, group, task),
                DisplayMessage: restartReason(job, group, task),
              }),
            ]
          : [
              taskEvent("Sibling Task Failed", {
                FailedSibling: failed,
                DisplayMessage: `Task's sibling "${failed}" failed`,
              }),
            ];
        x.TaskStates![task.Name] = {
          ...ts,
          State: "dead",
          Failed: Boolean(problems),
          FinishedAt: now,
          Events: [...(ts.Events ?? []), ...received, ...events],
        };
      }
      x.ClientStatus = "failed";
      x.ClientDescription = "Failed tasks";
    });
    this.logs.finish(alloc.ID);
  }

  #taskStarted(allocId: string, task: string): void {
    const a = this.state.alloc(allocId);
    this.state.updateAlloc(a, "AllocationUpdated", (x) => {
      const ts = x.TaskStates![task] ?? newTaskState();
      x.TaskStates![task] = {
        ...ts,
        State: "running",
        StartedAt: new Date().toISOString(),
        Events: [
          ...(ts.Events ?? []),
          taskEvent("Received", { DisplayMessage: "Task received by client" }),
          taskEvent("Task Setup", {
            Message: "Building Task Directory",
            DisplayMessage: "Building Task Directory",
          }),
          taskEvent("Started", { DisplayMessage: "Task started by client" }),
        ],
      };
      x.ClientStatus = "running";
      x.ClientDescription = "Tasks are running";
    });
  }

  #taskExited(
    allocId: string,
    task: string,
    code: number | null,
    signal: NodeJS.Signals | null,
    killed: boolean,
  ): void {
    const a = this.state.allocs.get(allocId);
    if (!a || isTerminal(a.ClientStatus)) return;
    const failed = !killed && code !== 0;
    this.state.updateAlloc(a, "AllocationUpdated", (x) => {
      const ts = x.TaskStates![task] ?? newTaskState();
      const events = [...(ts.Events ?? [])];
      if (killed) events.push(taskEvent("Killed", { DisplayMessage: "Task successfully killed" }));
      else {
        events.push(
          taskEvent("Terminated", {
            ExitCode: code ?? -1,
            Signal: signal ? 9 : 0,
            DisplayMessage: `Exit Code: ${code ?? -1}${signal ? `, Signal: ${signal}` : ""}`,
          }),
        );
        if (failed)
          events.push(
            taskEvent("Not Restarting", {
              FailsTask: true,
              DisplayMessage: "Policy allows no restarts",
            }),
          );
      }
      x.TaskStates![task] = {
        ...ts,
        State: "dead",
        Failed: failed,
        FinishedAt: new Date().toISOString(),
        Events: events,
      };
      const states = Object.values(x.TaskStates!);
      if (states.every((s) => s.State === "dead")) {
        x.ClientStatus = states.some((s) => s.Failed) ? "failed" : "complete";
        x.ClientDescription =
          x.ClientStatus === "failed" ? "Failed tasks" : "All tasks have completed";
      }
    });
    if (isTerminal(a.ClientStatus)) this.logs.finish(allocId);
  }

  /** The NOMAD_* variables a task gets. */
  #nomadEnv(
    alloc: Alloc,
    job: NomadJob,
    group: NomadTaskGroup,
    task: NomadTask,
    node: TestNode,
  ): Record<string, string> {
    const env: Record<string, string> = {
      NOMAD_ALLOC_ID: alloc.ID,
      NOMAD_ALLOC_NAME: alloc.Name,
      NOMAD_ALLOC_INDEX: String(/\[(\d+)\]$/.exec(alloc.Name)?.[1] ?? 0),
      NOMAD_JOB_ID: job.ID,
      NOMAD_JOB_NAME: job.Name ?? job.ID,
      NOMAD_GROUP_NAME: group.Name,
      NOMAD_TASK_NAME: task.Name,
      NOMAD_NAMESPACE: alloc.Namespace,
      NOMAD_REGION: job.Region ?? this.opts.region,
      NOMAD_DC: node.Datacenter,
      NOMAD_NODE_ID: node.ID,
      NOMAD_NODE_NAME: node.Name,
      NOMAD_CPU_LIMIT: String(task.Resources?.CPU ?? 100),
      NOMAD_MEMORY_LIMIT: String(task.Resources?.MemoryMB ?? 300),
    };
    for (const [k, v] of Object.entries({
      ...(job.Meta ?? {}),
      ...(group.Meta ?? {}),
      ...(task.Meta ?? {}),
    })) {
      env[`NOMAD_META_${k.replace(/[^A-Za-z0-9_]/g, "_")}`] = v;
    }
    for (const p of alloc.AllocatedResources?.Shared?.Ports ?? []) {
      env[`NOMAD_PORT_${p.Label}`] = String(p.Value);
      env[`NOMAD_HOST_PORT_${p.Label}`] = String(p.Value);
      env[`NOMAD_IP_${p.Label}`] = p.HostIP;
      env[`NOMAD_ADDR_${p.Label}`] = `${p.HostIP}:${p.Value}`;
    }
    return env;
  }
}

/**
 * The restart tracker's reason for not restarting after an unrecoverable error
 * (client/allocrunner/taskrunner/restarts/restarts.go): no attempts allowed, or the error.
 */
function restartReason(job: NomadJob, group: NomadTaskGroup, task: NomadTask): string {
  const attempts =
    task.RestartPolicy?.Attempts ?? group.RestartPolicy?.Attempts ?? (job.Type === "batch" ? 3 : 2);
  return attempts === 0 ? "Policy allows no restarts" : "Error was unrecoverable";
}
