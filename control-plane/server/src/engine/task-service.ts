import type { Logger } from "pino";
import type { JobPlan } from "@drover/config-compiler";
import type { ServiceUrls } from "../config/urls.js";
import type { Database } from "../db/types.js";
import { generateToken, hashToken, TASK_SESSION_PREFIX } from "../auth/tokens.js";
import { ControlPlaneError } from "../model/errors.js";
import type { ClaimResponse, TaskEvent, TaskSpec } from "@drover/task-api";
import type { WorkflowEngine } from "./engine.js";

/**
 * Supplies a claimed task's project and context environment and the values the agent must mask.
 * Called once per claim, outside any transaction, after the token was consumed. Throwing fails
 * the claim (the task then ends as `infrastructure_fail` when its token expires or the agent
 * exits). The default returns nothing; the secrets engine plugs in a real one.
 */
/** What the claim endpoint passes to `TaskSecretsProvider.forTask`. */
export interface TaskSecretsInput {
  taskId: string;
  projectId: string;
  projectSlug: string;
  orgId: string;
  /** Context names from the job's `context:` key, in config order. */
  contexts: string[];
  /** The user the job runs as (the trigger's or the rerun's actor); null for system triggers. */
  userId: string | null;
}

/** A claimed task's environment layers and the values its agent must mask. */
export interface TaskSecrets {
  project: Record<string, string>;
  contexts: Record<string, string>;
  secrets: string[];
}

export type TaskAccessResult =
  { allowed: true } | { allowed: false; context: string; reason: string };

export interface TaskSecretsProvider {
  forTask(input: TaskSecretsInput): Promise<TaskSecrets>;
  /**
   * Optional: whether a job may use its contexts, asked before its tasks are handed to the
   * scheduler. A refusal ends the job `unauthorized` without running it.
   */
  checkAccess?(input: Omit<TaskSecretsInput, "taskId" | "projectSlug">): Promise<TaskAccessResult>;
}

export const emptySecretsProvider: TaskSecretsProvider = {
  forTask: () => Promise.resolve({ project: {}, contexts: {}, secrets: [] }),
};

/** What the task-session auth hook puts on a request to `/internal/v1/tasks/{id}/...`. */
export interface TaskPrincipal {
  taskId: string;
  jobId: string;
  jobName: string;
  workflowId: string;
  pipelineId: string;
  projectId: string;
  projectSlug: string;
  nodeIndex: number;
}

export interface TaskServiceOptions {
  db: Database;
  engine: WorkflowEngine;
  logger: Logger;
  urls: ServiceUrls;
  secrets?: TaskSecretsProvider;
  /** Mints the output token for a task (the output-processor verifies it); default random. */
  mintOutputToken?: (
    taskId: string,
    task: { jobId: string; projectId: string },
  ) => string | Promise<string>;
}

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
      const { rows } = await tx.query<{ id: string; job_id: string }>(
        `UPDATE tasks SET claimed_at = now(), session_hash = $2, status = 'running',
                started_at = now(), token_hash = NULL
          WHERE token_hash = $1 AND claimed_at IS NULL AND token_expires_at > now()
            AND status IN ('pending', 'submitted')
          RETURNING id, job_id`,
        [hashToken(token), hashToken(session)],
      );
      const row = rows[0];
      if (!row) return null;
      await this.opts.engine.markJobRunning(tx, row.job_id, requestId);
      return row;
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
    this.log.info({ taskId: claimed.id, jobId: claimed.job_id }, "task claimed");
    return { task, session };
  }

  private async buildSpec(taskId: string): Promise<TaskSpec> {
    const { rows } = await this.opts.db.query<Record<string, unknown>>(
      `SELECT t.id, t.attempt, t.node_index, t.node_total, t.enable_ssh,
              j.id AS job_id, j.name AS job_name, j.number AS job_number, j.plan,
              w.id AS workflow_id, w.name AS workflow_name, w.started_by,
              p.id AS pipeline_id, p.number AS pipeline_number, p.vcs, p.trigger_actor_id,
              pr.id AS project_id, pr.slug, pr.name AS repo, pr.repository_url, pr.org_id
         FROM tasks t JOIN jobs j ON j.id = t.job_id JOIN workflows w ON w.id = t.workflow_id
         JOIN pipelines p ON p.id = w.pipeline_id JOIN projects pr ON pr.id = p.project_id
        WHERE t.id = $1`,
      [taskId],
    );
    const r = rows[0];
    if (!r) throw new ControlPlaneError("DROVER_ERR_NOT_FOUND", "task not found");
    const parse = <T>(v: unknown): T => (typeof v === "string" ? (JSON.parse(v) as T) : (v as T));
    const plan = parse<JobPlan>(r.plan);
    const vcs = parse<{ branch?: string; tag?: string; revision: string }>(r.vcs);
    const slug = String(r.slug);
    const userId = (r.started_by ?? r.trigger_actor_id ?? null) as string | null;
    const sshEnabled = Boolean(r.enable_ssh);
    const keys =
      sshEnabled && userId
        ? (
            await this.opts.db.query<{ public_key: string }>(
              "SELECT public_key FROM ssh_keys WHERE user_id = $1 ORDER BY created_at",
              [userId],
            )
          ).rows.map((k) => k.public_key)
        : [];
    const env = await (this.opts.secrets ?? emptySecretsProvider).forTask({
      taskId,
      projectId: String(r.project_id),
      projectSlug: slug,
      orgId: String(r.org_id),
      contexts: plan.contexts,
      userId,
    });
    const outputToken = this.opts.mintOutputToken
      ? await this.opts.mintOutputToken(taskId, {
          jobId: String(r.job_id),
          projectId: String(r.project_id),
        })
      : generateToken("dot_");
    const jobId = String(r.job_id);
    if (!plan.executor) {
      throw new ControlPlaneError("DROVER_ERR_INVALID_STATE", `job ${plan.name} has no executor`);
    }
    return {
      taskId,
      attempt: Number(r.attempt),
      node: { index: Number(r.node_index), total: Number(r.node_total) },
      project: {
        slug,
        org: slug.split("/")[1] ?? "",
        repo: String(r.repo),
        gitUrl: String(r.repository_url),
      },
      pipeline: {
        id: String(r.pipeline_id),
        number: Number(r.pipeline_number),
        ...(vcs.branch ? { branch: vcs.branch } : {}),
        ...(vcs.tag ? { tag: vcs.tag } : {}),
        revision: vcs.revision,
      },
      workflow: { id: String(r.workflow_id), name: String(r.workflow_name) },
      job: {
        id: jobId,
        name: String(r.job_name),
        number: Number(r.job_number ?? 0),
        url: `${this.opts.urls.public}/jobs/${jobId}`,
      },
      executor: plan.executor,
      steps: plan.steps,
      workingDirectory: plan.workingDirectory,
      ...(plan.shell ? { shell: plan.shell } : {}),
      resourceClass: plan.resourceClass,
      environment: { project: env.project, contexts: env.contexts, job: plan.environment },
      secrets: env.secrets,
      ssh: { enabled: sshEnabled, authorizedKeys: keys },
      output: { url: this.opts.urls.output, token: outputToken },
    };
  }

  /** The task a session token belongs to, while that task is not final; null otherwise. */
  async authenticate(taskId: string, session: string): Promise<TaskPrincipal | null> {
    if (!/^[0-9a-f-]{36}$/i.test(taskId)) return null;
    const { rows } = await this.opts.db.query<Record<string, unknown>>(
      `SELECT t.id, t.node_index, j.id AS job_id, j.name AS job_name, w.id AS workflow_id,
              w.pipeline_id, pr.id AS project_id, pr.slug
         FROM tasks t JOIN jobs j ON j.id = t.job_id JOIN workflows w ON w.id = t.workflow_id
         JOIN projects pr ON pr.id = w.project_id
        WHERE t.id = $1 AND t.session_hash = $2 AND t.status = 'running'`,
      [taskId, hashToken(session)],
    );
    const r = rows[0];
    if (!r) return null;
    return {
      taskId,
      jobId: String(r.job_id),
      jobName: String(r.job_name),
      workflowId: String(r.workflow_id),
      pipelineId: String(r.pipeline_id),
      projectId: String(r.project_id),
      projectSlug: String(r.slug),
      nodeIndex: Number(r.node_index),
    };
  }

  /**
   * Ids of the jobs a job (transitively) requires, nearest first: in its own workflow, or for
   * jobs a partial rerun did not copy, the same-named jobs of the workflow it reran.
   */
  async upstreamJobIds(jobId: string): Promise<string[]> {
    const { rows } = await this.opts.db.query<{ workflow_id: string; name: string }>(
      "SELECT workflow_id, name FROM jobs WHERE id = $1",
      [jobId],
    );
    const start = rows[0];
    if (!start) return [];
    const out: string[] = [];
    let workflowId: string | null = start.workflow_id;
    let wanted = new Set<string>([start.name]);
    const seen = new Set<string>();
    for (let depth = 0; workflowId && wanted.size > 0 && depth < 20; depth++) {
      const jobs = (
        await this.opts.db.query<{ id: string; name: string; requires: unknown }>(
          "SELECT id, name, requires FROM jobs WHERE workflow_id = $1",
          [workflowId],
        )
      ).rows;
      const byName = new Map(jobs.map((j) => [j.name, j]));
      const missing = new Set<string>();
      const queue = [...wanted];
      while (queue.length > 0) {
        const name = queue.shift() ?? "";
        const job = byName.get(name);
        if (!job) {
          missing.add(name);
          continue;
        }
        const reqs = (
          typeof job.requires === "string" ? JSON.parse(job.requires) : job.requires
        ) as Array<{ job: string }>;
        for (const r of reqs) {
          if (seen.has(r.job)) continue;
          seen.add(r.job);
          const dep = byName.get(r.job);
          if (dep) out.push(dep.id);
          queue.push(r.job);
        }
      }
      wanted = missing;
      const wf: { rows: Array<{ rerun_of: string | null }> } = await this.opts.db.query(
        "SELECT rerun_of FROM workflows WHERE id = $1",
        [workflowId],
      );
      workflowId = wf.rows[0]?.rerun_of ?? null;
      // Names carried from the reran workflow: look them up (and their requirements) there.
      if (workflowId && wanted.size > 0) {
        const prior = await this.opts.db.query<{ id: string; name: string }>(
          "SELECT id, name FROM jobs WHERE workflow_id = $1 AND name = ANY($2::text[])",
          [workflowId, [...wanted]],
        );
        for (const j of prior.rows) out.push(j.id);
      }
    }
    return out;
  }

  /** Applies agent events in order; each is idempotent. */
  async events(taskId: string, events: TaskEvent[]): Promise<void> {
    for (const e of events) {
      if (e.type === "step_started") {
        await this.opts.db.query(
          `INSERT INTO task_steps (task_id, step, name, status, started_at)
           VALUES ($1, $2, $3, 'running', $4) ON CONFLICT (task_id, step) DO NOTHING`,
          [taskId, e.step, e.name, e.at],
        );
      } else if (e.type === "step_finished") {
        await this.opts.db.query(
          `INSERT INTO task_steps (task_id, step, name, status, exit_code, duration_ms, message, finished_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (task_id, step) DO UPDATE SET status = EXCLUDED.status,
               exit_code = EXCLUDED.exit_code, duration_ms = EXCLUDED.duration_ms,
               message = EXCLUDED.message, finished_at = EXCLUDED.finished_at
             WHERE task_steps.finished_at IS NULL`,
          [
            taskId,
            e.step,
            `step ${e.step}`,
            e.status,
            e.exitCode,
            e.durationMs,
            e.message ?? null,
            e.at,
          ],
        );
      } else {
        await this.opts.engine.finishTask(taskId, e.result, e.message);
      }
    }
  }
}
