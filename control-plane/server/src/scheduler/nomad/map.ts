import {
  AGENT_TASK,
  type AllocationListStub,
  type TaskEvent,
  type TaskSpecInput,
} from "@drover/nomad-jobs";
import type { TaskPlan, TaskState } from "../types.js";

/** The engine's plan as the job spec builder's input (nomad-jobs does not know TaskPlan). */
export function toTaskSpecInput(plan: TaskPlan): TaskSpecInput {
  return {
    taskId: plan.taskId,
    taskToken: plan.taskToken,
    controlPlaneUrl: plan.controlPlaneUrl,
    outputUrl: plan.outputUrl,
    project: { slug: plan.project.slug, name: plan.project.name },
    pipeline: { id: plan.pipeline.id, number: plan.pipeline.number },
    workflow: { id: plan.workflow.id, name: plan.workflow.name },
    job: {
      id: plan.job.id,
      name: plan.job.name,
      number: plan.job.number,
      attempt: plan.job.attempt,
    },
    node: { index: plan.node.index, total: plan.node.total },
    resourceClass: plan.resourceClass,
    executorType: plan.executorType,
    sshEnabled: plan.sshEnabled,
    jobUrl: plan.jobUrl,
  };
}

const FAILURE_TYPES = new Set([
  "Driver Failure",
  "Setup Failure",
  "Failed Validation",
  "Failed Artifact Download",
  "Failed Restoring Task",
  "Terminated",
  "Killed",
  "Lost",
]);

/** Why an allocation failed, from its agent task's events (newest first). */
export function failureReason(alloc: AllocationListStub): string {
  const states = alloc.TaskStates ?? {};
  const state = states[AGENT_TASK] ?? Object.values(states)[0];
  const events = [...(state?.Events ?? [])].reverse();
  const pick = (e: TaskEvent): string =>
    e.DriverError ||
    e.SetupError ||
    e.ValidationError ||
    e.DownloadError ||
    e.KillError ||
    (e.Type === "Terminated" ? `agent exited with code ${e.ExitCode ?? "?"}` : "") ||
    e.DisplayMessage ||
    e.Message ||
    "";
  const fatal = events.find(
    (e) => FAILURE_TYPES.has(e.Type) && (e.FailsTask || e.Type !== "Killed"),
  );
  const detail = fatal
    ? `${fatal.Type}: ${pick(fatal)}`
    : alloc.ClientDescription || "allocation failed";
  return `Nomad allocation ${alloc.ID.slice(0, 8)} ${alloc.ClientStatus}: ${detail}`;
}

function isoFromNs(ns: number | undefined): string {
  return new Date(ns ? Math.floor(ns / 1_000_000) : Date.now()).toISOString();
}

/**
 * Drover's view of an allocation: pending -> queued, running -> running (node, SSH port),
 * complete -> finished (the agent's exit code; null when Nomad killed it), failed/lost -> lost
 * with the reason from the task events. `unknown` (client disconnected) maps to nothing.
 */
export function allocToTaskState(alloc: AllocationListStub): TaskState | undefined {
  const agent = alloc.TaskStates?.[AGENT_TASK] ?? Object.values(alloc.TaskStates ?? {})[0];
  switch (alloc.ClientStatus) {
    case "pending":
      return { state: "queued" };
    case "running": {
      const ssh = alloc.AllocatedResources?.Shared?.Ports?.find((p) => p.Label === "ssh");
      return {
        state: "running",
        at: agent?.StartedAt ?? isoFromNs(alloc.ModifyTime),
        // With SSH, the address users connect to; otherwise the node's name.
        ...(ssh?.HostIP || alloc.NodeName ? { host: ssh?.HostIP || alloc.NodeName } : {}),
        ...(ssh ? { sshPort: ssh.Value } : {}),
      };
    }
    case "complete": {
      const terminated = [...(agent?.Events ?? [])].reverse().find((e) => e.Type === "Terminated");
      return {
        state: "finished",
        at: agent?.FinishedAt ?? isoFromNs(alloc.ModifyTime),
        exitCode: terminated ? (terminated.ExitCode ?? null) : null,
      };
    }
    case "failed":
    case "lost":
      return {
        state: "lost",
        at: agent?.FinishedAt ?? isoFromNs(alloc.ModifyTime),
        reason: failureReason(alloc),
      };
    default:
      return undefined;
  }
}

export function isFinal(s: TaskState): boolean {
  return s.state === "finished" || s.state === "lost";
}
