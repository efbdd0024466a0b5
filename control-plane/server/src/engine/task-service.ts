import type { Logger } from "pino";
import type { ServiceUrls } from "../config/urls.js";
import type { Database } from "../db/types.js";
import { generateToken, hashToken, TASK_SESSION_PREFIX } from "../auth/tokens.js";
import { ControlPlaneError } from "../model/errors.js";
import { getUser, listSshKeys } from "../model/users.js";
import { recordAudit } from "../audit/log.js";
import type { ClaimResponse, TaskEvent, TaskSpec } from "@drover/task-api";
import { markJobRunning, type TaskResult } from "./results.js";
import { emptySecretsProvider, type TaskSecretsProvider } from "./secrets-provider.js";
import * as claims from "./store/claims.js";
import type { TaskPrincipal } from "./store/claims.js";
import { jobName, jobRequirements, jobsNamed } from "./store/jobs.js";
import { rerunOf } from "./store/workflows.js";

export type { TaskPrincipal } from "./store/claims.js";
export {
  emptySecretsProvider,
  type TaskAccessResult,
  type TaskSecrets,
  type TaskSecretsInput,
  type TaskSecretsProvider,
} from "./secrets-provider.js";

/**
 * What the task service tells the engine, always after its own transaction has committed: a
 * task's result (idempotent: a task already final keeps its first result) and that a workflow
 * changed. `WorkflowEngine` implements it.
 */
export interface TaskOutcomes {
  finishTask(taskId: string, result: TaskResult, message?: string): Promise<boolean>;
  changed(workflowId: string): void;
}

export interface TaskServiceOptions {
  db: Database;
  engine: TaskOutcomes;
  logger: Logger;
  urls: ServiceUrls;
  secrets?: TaskSecretsProvider;
  /** Mints the output token for a task (the output-processor verifies it); default random. */
  mintOutputToken?: (
    taskId: string,
    task: { jobId: string; projectId: string },
  ) => string | Promise<string>;
}

/** The project setting that lets a rerun with SSH forward ports into the job (`ssh -L`). */
export const SSH_FORWARDING_SETTING = "allow_ssh_port_forwarding";
/** The project setting that turns reruns with SSH off (admins set it). */
export const SSH_RERUNS_SETTING = "disable_ssh_reruns";
export const SSH_RERUNS_OFF =
  "SSH reruns are turned off for this project (project setting disable_ssh_reruns)";
export const sshRerunsDisabled = (settings: Record<string, unknown>): boolean =>
  settings[SSH_RERUNS_SETTING] === true;

/** Server side of the task API: claim, session check, events. */
export class TaskService {
  private readonly log: Logger;

  constructor(private readonly opts: TaskServiceOptions) {
    this.log = opts.logger.child({ unit: "task-api" });
  }

  /**
   * Exchanges a task token for the task. The token is single use: one atomic UPDATE consumes it,
   * so a second claim, an unknown token or an expired one is `DROVER_ERR_TASK_TOKEN`.
   */
  async claim(token: string, requestId?: string): Promise<ClaimResponse> {
    const session = generateToken(TASK_SESSION_PREFIX);
    const claimed = await this.opts.db.transaction(async (tx) => {
      const task = await claims.claimTask(tx, hashToken(token), hashToken(session));
      if (task) await markJobRunning(tx, task.jobId, requestId);
      return task;
    });
    if (!claimed) {
      throw new ControlPlaneError(
        "DROVER_ERR_TASK_TOKEN",
        "task token is unknown, used or expired",
      );
    }
    let task: TaskSpec;
    try {
      task = await this.buildSpec(claimed.id);
    } catch (err) {
      // The token is spent and no agent can run this task: end it now, saying why.
      const why = err instanceof Error ? err.message : String(err);
      await this.opts.engine.finishTask(claimed.id, "infrastructure_fail", `claim failed: ${why}`);
      throw err;
    }
    this.opts.engine.changed(task.workflow.id);
    this.log.info({ taskId: claimed.id, jobId: claimed.jobId }, "task claimed");
    return { task, session };
  }

  private async buildSpec(taskId: string): Promise<TaskSpec> {
    const t = await claims.claimedTask(this.opts.db, taskId);
    if (!t) throw new ControlPlaneError("DROVER_ERR_NOT_FOUND", "task not found");
    const { plan } = t.job;
    // The rerun's snapshot; reruns made before snapshots existed read the user's keys now.
    const keys = !t.enableSsh
      ? []
      : (t.sshKeys ??
        (t.userId ? (await listSshKeys(this.opts.db, t.userId)).map((k) => k.publicKey) : []));
    const env = await (this.opts.secrets ?? emptySecretsProvider).forTask({
      taskId,
      projectId: t.project.id,
      projectSlug: t.project.slug,
      orgId: t.project.orgId,
      contexts: plan.contexts,
      userId: t.userId,
    });
    const outputToken = this.opts.mintOutputToken
      ? await this.opts.mintOutputToken(taskId, { jobId: t.job.id, projectId: t.project.id })
      : generateToken("dot_");
    if (!plan.executor) {
      throw new ControlPlaneError("DROVER_ERR_INVALID_STATE", `job ${plan.name} has no executor`);
    }
    const { vcs } = t.pipeline;
    return {
      taskId,
      attempt: t.attempt,
      node: { index: t.nodeIndex, total: t.nodeTotal },
      project: {
        slug: t.project.slug,
        org: t.project.slug.split("/")[1] ?? "",
        repo: t.project.repo,
        gitUrl: t.project.repositoryUrl,
      },
      pipeline: {
        id: t.pipeline.id,
        number: t.pipeline.number,
        ...(vcs.branch ? { branch: vcs.branch } : {}),
        ...(vcs.tag ? { tag: vcs.tag } : {}),
        revision: vcs.revision,
      },
      workflow: t.workflow,
      job: {
        id: t.job.id,
        name: t.job.name,
        number: t.job.number ?? 0,
        url: `${this.opts.urls.public}/jobs/${t.job.id}`,
      },
      executor: plan.executor,
      steps: plan.steps,
      workingDirectory: plan.workingDirectory,
      ...(plan.shell ? { shell: plan.shell } : {}),
      resourceClass: plan.resourceClass,
      environment: { project: env.project, contexts: env.contexts, job: plan.environment },
      secrets: env.secrets,
      ssh: {
        enabled: t.enableSsh,
        authorizedKeys: keys,
        // Checked when the job starts: a project may have turned SSH reruns off since.
        ...(t.enableSsh && sshRerunsDisabled(t.project.settings)
          ? { refused: SSH_RERUNS_OFF }
          : {}),
        ...(t.enableSsh && t.project.settings[SSH_FORWARDING_SETTING] === true
          ? { portForwarding: true }
          : {}),
      },
      output: { url: this.opts.urls.output, token: outputToken },
    };
  }

  /**
   * What the task's machine is made from: the `machine` executor's image and resource class, or
   * for `setup_remote_docker` in a docker job CircleCI's remote Docker defaults.
   */
  async machineRequest(
    taskId: string,
    purpose: "executor" | "remote_docker",
  ): Promise<{ image: string; resourceClass: string }> {
    const t = await claims.claimedTask(this.opts.db, taskId);
    if (!t) throw new ControlPlaneError("DROVER_ERR_NOT_FOUND", "task not found");
    const { plan } = t.job;
    if (purpose === "executor") {
      if (plan.executor?.type !== "machine") {
        throw new ControlPlaneError(
          "DROVER_ERR_INVALID_STATE",
          `job ${plan.name} does not use the machine executor`,
        );
      }
      return { image: plan.executor.image, resourceClass: plan.resourceClass };
    }
    if (!plan.steps.some((s) => s.type === "setup_remote_docker")) {
      throw new ControlPlaneError(
        "DROVER_ERR_INVALID_STATE",
        `job ${plan.name} has no setup_remote_docker step`,
      );
    }
    return { image: "docker-default", resourceClass: "medium" };
  }

  /** The task a session token belongs to, while that task is not final; null otherwise. */
  async authenticate(taskId: string, session: string): Promise<TaskPrincipal | null> {
    if (!/^[0-9a-f-]{36}$/i.test(taskId)) return null;
    return claims.sessionPrincipal(this.opts.db, taskId, hashToken(session));
  }

  /**
   * Ids of the jobs a job (transitively) requires, nearest first: in its own workflow, or for
   * jobs a partial rerun did not copy, the same-named jobs of the workflow it reran.
   */
  async upstreamJobIds(jobId: string): Promise<string[]> {
    const { db } = this.opts;
    const start = await jobName(db, jobId);
    if (!start) return [];
    const out: string[] = [];
    let workflowId: string | null = start.workflowId;
    let wanted = new Set<string>([start.name]);
    const seen = new Set<string>();
    for (let depth = 0; workflowId && wanted.size > 0 && depth < 20; depth++) {
      const byName = new Map((await jobRequirements(db, workflowId)).map((j) => [j.name, j]));
      const missing = new Set<string>();
      const queue = [...wanted];
      while (queue.length > 0) {
        const name = queue.shift() ?? "";
        const job = byName.get(name);
        if (!job) {
          missing.add(name);
          continue;
        }
        for (const r of job.requires) {
          if (seen.has(r.job)) continue;
          seen.add(r.job);
          const dep = byName.get(r.job);
          if (dep) out.push(dep.id);
          queue.push(r.job);
        }
      }
      wanted = missing;
      workflowId = await rerunOf(db, workflowId);
      // Names carried from the reran workflow: look them up (and their requirements) there.
      if (workflowId && wanted.size > 0) {
        for (const j of await jobsNamed(db, workflowId, [...wanted])) out.push(j.id);
      }
    }
    return out;
  }

  /** An SSH login or logout of a rerun with SSH, in the audit log: who asked, which job, which key. */
  private async auditSsh(
    taskId: string,
    e: Extract<TaskEvent, { type: "ssh_session" }>,
  ): Promise<void> {
    const t = await claims.claimedTask(this.opts.db, taskId);
    if (!t) return;
    const user = t.userId ? await getUser(this.opts.db, t.userId) : null;
    await recordAudit(this.opts.db, {
      action: e.event === "login" ? "job.ssh.login" : "job.ssh.logout",
      actor: user
        ? { id: user.id, type: "user", name: user.login }
        : { id: "unknown", type: "user", name: "unknown" },
      target: { id: t.job.id, type: "job", name: t.job.name },
      scope: { id: t.project.id, type: "project", name: t.project.slug },
      payload: {
        task_id: taskId,
        fingerprint: e.fingerprint,
        address: e.address,
        at: e.at,
      },
    });
  }

  /** Applies agent events in order; each is idempotent. */
  async events(taskId: string, events: TaskEvent[]): Promise<void> {
    for (const e of events) {
      if (e.type === "step_started") {
        await claims.stepStarted(this.opts.db, taskId, e);
      } else if (e.type === "step_finished") {
        await claims.stepFinished(this.opts.db, taskId, { ...e, message: e.message ?? null });
      } else if (e.type === "ssh_session") {
        await this.auditSsh(taskId, e);
      } else {
        await this.opts.engine.finishTask(taskId, e.result, e.message);
      }
    }
  }
}
