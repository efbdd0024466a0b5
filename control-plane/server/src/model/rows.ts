/** Row -> record mappers (snake_case columns to camelCase records). */
import type {
  Job,
  Pipeline,
  Project,
  Schedule,
  SshKey,
  Task,
  TaskStep,
  User,
  Workflow,
} from "./records.js";

type Row = Record<string, unknown>;

const date = (v: unknown): Date => (v instanceof Date ? v : new Date(String(v)));
const dateOrNull = (v: unknown): Date | null => (v === null || v === undefined ? null : date(v));
const str = (v: unknown): string => String(v);
const strOrNull = (v: unknown): string | null => (v === null || v === undefined ? null : String(v));
const json = <T>(v: unknown): T => (typeof v === "string" ? (JSON.parse(v) as T) : (v as T));

export function toProject(r: Row): Project {
  const slug = str(r.slug);
  const [vcs = "", org = "", repo = ""] = slug.split("/");
  return {
    id: str(r.id),
    orgId: str(r.org_id),
    slug,
    vcs,
    org,
    repo,
    repositoryUrl: str(r.repository_url),
    defaultBranch: strOrNull(r.default_branch),
    settings: json(r.settings),
    webhookSecret: str(r.webhook_secret),
    createdAt: date(r.created_at),
  };
}

export function toUser(r: Row): User {
  return {
    id: str(r.id),
    login: str(r.login),
    name: str(r.name),
    role: str(r.role) as User["role"],
    createdAt: date(r.created_at),
  };
}

export function toSshKey(r: Row): SshKey {
  return {
    id: str(r.id),
    userId: str(r.user_id),
    title: str(r.title),
    publicKey: str(r.public_key),
    fingerprint: str(r.fingerprint),
    createdAt: date(r.created_at),
  };
}

export function toPipeline(r: Row): Pipeline {
  return {
    id: str(r.id),
    projectId: str(r.project_id),
    number: Number(r.number),
    state: str(r.state) as Pipeline["state"],
    triggerType: str(r.trigger_type),
    triggerActorId: strOrNull(r.trigger_actor_id),
    triggerReceivedAt: date(r.trigger_received_at),
    triggerParameters: json(r.trigger_parameters),
    parameters: json(r.parameters),
    vcs: json(r.vcs),
    configSource: strOrNull(r.config_source),
    configCompiled: strOrNull(r.config_compiled),
    errors: json(r.errors),
    scheduleId: strOrNull(r.schedule_id),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}

export function toWorkflow(r: Row): Workflow {
  return {
    id: str(r.id),
    pipelineId: str(r.pipeline_id),
    projectId: str(r.project_id),
    name: str(r.name),
    status: str(r.status) as Workflow["status"],
    rerunOf: strOrNull(r.rerun_of),
    carried: json(r.carried),
    startedBy: strOrNull(r.started_by),
    canceledBy: strOrNull(r.canceled_by),
    canceledAt: dateOrNull(r.canceled_at),
    createdAt: date(r.created_at),
    stoppedAt: dateOrNull(r.stopped_at),
  };
}

export function toJob(r: Row): Job {
  return {
    id: str(r.id),
    workflowId: str(r.workflow_id),
    projectId: str(r.project_id),
    position: Number(r.position),
    name: str(r.name),
    type: str(r.type) as Job["type"],
    number: r.number === null || r.number === undefined ? null : Number(r.number),
    status: str(r.status) as Job["status"],
    requires: json(r.requires),
    plan: json(r.plan),
    parallelism: Number(r.parallelism),
    enableSsh: Boolean(r.enable_ssh),
    rerunOf: strOrNull(r.rerun_of),
    approvedBy: strOrNull(r.approved_by),
    canceledBy: strOrNull(r.canceled_by),
    createdAt: date(r.created_at),
    queuedAt: dateOrNull(r.queued_at),
    startedAt: dateOrNull(r.started_at),
    stoppedAt: dateOrNull(r.stopped_at),
  };
}

export function toTask(r: Row): Task {
  return {
    id: str(r.id),
    jobId: str(r.job_id),
    workflowId: str(r.workflow_id),
    attempt: Number(r.attempt),
    nodeIndex: Number(r.node_index),
    nodeTotal: Number(r.node_total),
    status: str(r.status) as Task["status"],
    enableSsh: Boolean(r.enable_ssh),
    tokenExpiresAt: dateOrNull(r.token_expires_at),
    claimedAt: dateOrNull(r.claimed_at),
    message: strOrNull(r.message),
    createdAt: date(r.created_at),
    submittedAt: dateOrNull(r.submitted_at),
    startedAt: dateOrNull(r.started_at),
    finishedAt: dateOrNull(r.finished_at),
  };
}

export function toTaskStep(r: Row): TaskStep {
  return {
    taskId: str(r.task_id),
    step: Number(r.step),
    name: str(r.name),
    status: str(r.status),
    exitCode: r.exit_code === null || r.exit_code === undefined ? null : Number(r.exit_code),
    durationMs:
      r.duration_ms === null || r.duration_ms === undefined ? null : Number(r.duration_ms),
    message: strOrNull(r.message),
    startedAt: dateOrNull(r.started_at),
    finishedAt: dateOrNull(r.finished_at),
  };
}

export function toSchedule(r: Row): Schedule {
  return {
    id: str(r.id),
    projectId: str(r.project_id),
    name: str(r.name),
    description: str(r.description),
    timetable: json(r.timetable),
    parameters: json(r.parameters),
    attribution: str(r.attribution) as Schedule["attribution"],
    actorId: strOrNull(r.actor_id),
    nextRunAt: date(r.next_run_at),
    createdAt: date(r.created_at),
    updatedAt: date(r.updated_at),
  };
}
