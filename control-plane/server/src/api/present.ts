/** Records -> CircleCI API v2 shapes. */
import type {
  Job,
  Pipeline,
  Project,
  Schedule,
  Task,
  TaskStep,
  User,
  Workflow,
} from "../model/records.js";

const iso = (d: Date | null | undefined): string | null => (d ? d.toISOString() : null);

/** The body of a 201 for a pipeline just triggered (API trigger and push webhooks). */
export function presentTriggeredPipeline(p: Pipeline) {
  return { id: p.id, state: p.state, number: p.number, created_at: p.createdAt.toISOString() };
}

export function presentPipeline(p: Pipeline, project: Project, actor: User | null) {
  return {
    id: p.id,
    errors: p.errors,
    project_slug: project.slug,
    updated_at: iso(p.updatedAt),
    number: p.number,
    trigger_parameters: p.triggerParameters,
    state: p.state,
    created_at: iso(p.createdAt),
    trigger: {
      type: p.triggerType,
      received_at: iso(p.triggerReceivedAt),
      actor: actor
        ? { login: actor.login, avatar_url: null }
        : { login: "system", avatar_url: null },
    },
    vcs: {
      provider_name: providerName(project.vcs),
      target_repository_url: p.vcs.targetRepositoryUrl,
      origin_repository_url: p.vcs.targetRepositoryUrl,
      revision: p.vcs.revision,
      ...(p.vcs.branch ? { branch: p.vcs.branch } : {}),
      ...(p.vcs.tag ? { tag: p.vcs.tag } : {}),
      ...(p.vcs.commit ? { commit: p.vcs.commit } : {}),
    },
  };
}

export function providerName(vcs: string): string {
  if (vcs === "gh" || vcs === "github") return "GitHub";
  if (vcs === "bb" || vcs === "bitbucket") return "Bitbucket";
  if (vcs === "gl" || vcs === "gitlab") return "GitLab";
  return vcs;
}

export function presentWorkflow(w: Workflow, p: Pipeline, project: Project) {
  return {
    pipeline_id: w.pipelineId,
    canceled_by: w.canceledBy ?? undefined,
    id: w.id,
    name: w.name,
    project_slug: project.slug,
    errored_by: undefined,
    // CircleCI's only tag is `setup`; a rerun is told by `rerun_of`.
    status: w.status,
    started_by: w.startedBy ?? p.triggerActorId ?? undefined,
    pipeline_number: p.number,
    created_at: iso(w.createdAt),
    stopped_at: iso(w.stoppedAt),
    rerun_of: w.rerunOf ?? undefined,
  };
}

export function presentWorkflowJob(j: Job, jobs: Job[], project: Project) {
  const ids = new Map(jobs.map((x) => [x.name, x.id]));
  return {
    canceled_by: j.canceledBy ?? undefined,
    dependencies: j.requires.map((r) => ids.get(r.job)).filter((x): x is string => Boolean(x)),
    job_number: j.number ?? undefined,
    id: j.id,
    started_at: iso(j.startedAt),
    name: j.name,
    approved_by: j.approvedBy ?? undefined,
    project_slug: project.slug,
    status: j.status,
    type: j.type,
    stopped_at: iso(j.stoppedAt),
    ...(j.type === "approval" ? { approval_request_id: j.id } : {}),
    enable_ssh: j.enableSsh,
    // Drover: parallel nodes of the job, when more than one.
    ...(j.parallelism > 1 ? { parallelism: j.parallelism } : {}),
  };
}

export function presentJobDetails(
  j: Job,
  w: Workflow,
  p: Pipeline,
  project: Project,
  tasks: Task[],
  steps: Map<string, TaskStep[]>,
  publicUrl: string,
) {
  const started = j.startedAt?.getTime();
  const stopped = j.stoppedAt?.getTime();
  const output = `${publicUrl}/api/v2/project/${project.slug}/job/${j.number}/output`;
  return {
    web_url: `${publicUrl}/jobs/${j.id}`,
    project: {
      id: project.id,
      slug: project.slug,
      name: project.repo,
      external_url: project.repositoryUrl,
    },
    parallel_runs: tasks.map((t) => ({ index: t.nodeIndex, status: t.status })),
    started_at: iso(j.startedAt),
    latest_workflow: { id: w.id, name: w.name },
    name: j.name,
    executor: { resource_class: j.plan.resourceClass, type: j.plan.executor?.type ?? "docker" },
    parallelism: j.parallelism,
    status: j.status,
    number: j.number,
    pipeline: { id: p.id },
    duration: started !== undefined && stopped !== undefined ? stopped - started : null,
    created_at: iso(j.createdAt),
    messages: tasks
      .filter((t) => t.message)
      .map((t) => ({ type: t.status, message: t.message, reason: `node ${t.nodeIndex}` })),
    contexts: j.plan.contexts.map((name) => ({ name })),
    organization: { name: project.org },
    queued_at: iso(j.queuedAt),
    stopped_at: iso(j.stoppedAt),
    // Drover: the job's id, SSH flag and per-node steps.
    id: j.id,
    enable_ssh: j.enableSsh,
    steps: tasks.map((t) => ({
      index: t.nodeIndex,
      task_id: t.id,
      output_url: `${output}?node=${t.nodeIndex}`,
      steps: (steps.get(t.id) ?? []).map((s) => ({
        output_url: `${output}?node=${t.nodeIndex}&step=${s.step}`,
        step: s.step,
        name: s.name,
        status: s.status,
        exit_code: s.exitCode,
        duration_ms: s.durationMs,
        message: s.message,
      })),
    })),
  };
}

export function presentUser(u: User) {
  return { id: u.id, login: u.login, name: u.name, role: u.role };
}

export function presentProject(project: Project, withSecret: boolean) {
  return {
    id: project.id,
    slug: project.slug,
    name: project.repo,
    organization_name: project.org,
    organization_slug: `${project.vcs}/${project.org}`,
    organization_id: project.orgId,
    vcs_info: {
      vcs_url: project.repositoryUrl,
      provider: providerName(project.vcs),
      default_branch: project.defaultBranch ?? "main",
    },
    webhook_secret_set: project.webhookSecret.length > 0,
    ...(withSecret ? { webhook_secret: project.webhookSecret } : {}),
  };
}

export function presentSchedule(s: Schedule, project: Project, actor: User | null) {
  return {
    id: s.id,
    timetable: s.timetable,
    "updated-at": iso(s.updatedAt),
    name: s.name,
    "created-at": iso(s.createdAt),
    "project-slug": project.slug,
    parameters: s.parameters,
    actor: actor
      ? { id: actor.id, login: actor.login, name: actor.name }
      : { id: "00000000-0000-0000-0000-000000000000", login: "system-actor", name: "Scheduled" },
    description: s.description,
    // Drover: when the runner fires next.
    "next-run-at": iso(s.nextRunAt),
  };
}
