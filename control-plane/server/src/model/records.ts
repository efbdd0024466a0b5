import type { CompileError, JobPlan, JobRequirement } from "@drover/config-compiler";

export type Role = "admin" | "member";

export interface Organization {
  id: string;
  vcs: string;
  name: string;
}

export interface Project {
  id: string;
  orgId: string;
  slug: string;
  vcs: string;
  org: string;
  repo: string;
  repositoryUrl: string;
  defaultBranch: string | null;
  settings: Record<string, unknown>;
  webhookSecret: string;
  createdAt: Date;
}

export interface User {
  id: string;
  login: string;
  name: string;
  role: Role;
  createdAt: Date;
}

export interface SshKey {
  id: string;
  userId: string;
  title: string;
  publicKey: string;
  fingerprint: string;
  createdAt: Date;
}

export type PipelineState = "created" | "errored" | "setup-pending" | "setup" | "pending";

/** CircleCI error types: config, config-fetch, timeout, permission, other, plan. */
export interface PipelineError {
  type: "config" | "config-fetch" | "timeout" | "permission" | "other" | "plan";
  message: string;
  /** Drover: compiler findings keep their position. */
  code?: string;
  file?: string;
  line?: number;
  col?: number;
}

export interface PipelineVcs {
  branch?: string;
  tag?: string;
  revision: string;
  targetRepositoryUrl: string;
  commit?: { subject: string; body: string };
}

export interface Pipeline {
  id: string;
  projectId: string;
  number: number;
  state: PipelineState;
  triggerType: string;
  triggerActorId: string | null;
  triggerReceivedAt: Date;
  triggerParameters: Record<string, unknown>;
  parameters: Record<string, unknown>;
  vcs: PipelineVcs;
  configSource: string | null;
  configCompiled: string | null;
  errors: PipelineError[];
  scheduleId: string | null;
  createdAt: Date;
  updatedAt: Date;
}

export type WorkflowStatus =
  "running" | "success" | "failed" | "error" | "failing" | "canceled" | "on_hold" | "not_run";

export interface Workflow {
  id: string;
  pipelineId: string;
  projectId: string;
  name: string;
  status: WorkflowStatus;
  rerunOf: string | null;
  carried: Record<string, JobStatus>;
  startedBy: string | null;
  canceledBy: string | null;
  canceledAt: Date | null;
  createdAt: Date;
  stoppedAt: Date | null;
}

export type JobStatus =
  | "blocked"
  | "queued"
  | "running"
  | "on_hold"
  | "success"
  | "failed"
  | "infrastructure_fail"
  | "timedout"
  | "canceled"
  | "not_run"
  | "unauthorized";

export const FINAL_JOB_STATUSES: ReadonlySet<JobStatus> = new Set([
  "success",
  "failed",
  "infrastructure_fail",
  "timedout",
  "canceled",
  "not_run",
  "unauthorized",
]);

export interface Job {
  id: string;
  workflowId: string;
  projectId: string;
  position: number;
  name: string;
  type: "build" | "approval";
  number: number | null;
  status: JobStatus;
  requires: JobRequirement[];
  plan: JobPlan;
  parallelism: number;
  enableSsh: boolean;
  rerunOf: string | null;
  approvedBy: string | null;
  canceledBy: string | null;
  createdAt: Date;
  queuedAt: Date | null;
  startedAt: Date | null;
  stoppedAt: Date | null;
}

export type TaskStatus =
  "pending" | "submitted" | "running" | "success" | "failed" | "infrastructure_fail" | "canceled";

export const ACTIVE_TASK_STATUSES: readonly TaskStatus[] = ["pending", "submitted", "running"];

export interface Task {
  id: string;
  jobId: string;
  workflowId: string;
  attempt: number;
  nodeIndex: number;
  nodeTotal: number;
  status: TaskStatus;
  enableSsh: boolean;
  tokenExpiresAt: Date | null;
  claimedAt: Date | null;
  message: string | null;
  createdAt: Date;
  submittedAt: Date | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface TaskStep {
  taskId: string;
  step: number;
  name: string;
  status: string;
  exitCode: number | null;
  durationMs: number | null;
  message: string | null;
  startedAt: Date | null;
  finishedAt: Date | null;
}

export interface Timetable {
  "per-hour": number;
  "hours-of-day": number[];
  "days-of-week"?: string[];
  "days-of-month"?: number[];
  months?: string[];
}

export interface Schedule {
  id: string;
  projectId: string;
  name: string;
  description: string;
  timetable: Timetable;
  parameters: Record<string, string | number | boolean>;
  attribution: "current" | "system";
  actorId: string | null;
  nextRunAt: Date;
  createdAt: Date;
  updatedAt: Date;
}

export type { CompileError };
