import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { SYSTEM_ACTOR, type AuditContext } from "../audit/events.js";
import { recordAudit } from "../audit/log.js";
import type { CompileOptions, CompileResult, PipelinePlan } from "@drover/config-compiler";
import type { Database, Queryable } from "../db/types.js";
import type { WorkflowEngine } from "../engine/engine.js";
import type { GitConfigFetcher } from "../git/fetch.js";
import { ControlPlaneError } from "../model/errors.js";
import { insertPipeline } from "../model/pipelines.js";
import { allocateNumbers } from "../model/projects.js";
import type {
  Pipeline,
  PipelineError,
  PipelineState,
  PipelineVcs,
  Project,
} from "../model/records.js";

/** The compiler's entry point, as the trigger uses it. */
export type CompileFn = (
  source: string,
  options: CompileOptions,
) => CompileResult | Promise<CompileResult>;

/** CircleCI's trigger types. */
export type TriggerType = "api" | "webhook" | "schedule" | "explicit";

export interface TriggerRequest {
  project: Project;
  triggerType: TriggerType;
  actorId: string | null;
  branch?: string;
  tag?: string;
  /** Commit to build; resolved from the branch or tag when absent. */
  revision?: string;
  parameters?: Record<string, string | number | boolean>;
  /** Config text sent with the trigger (`drover run`); otherwise read from the repository. */
  configSource?: string;
  scheduleId?: string;
  /** Who triggered and through which request; recorded as `pipeline.trigger` (default: system). */
  audit?: AuditContext;
  /**
   * Runs inside the transaction that stores the pipeline, after it is stored (e.g. to record the
   * webhook delivery that made it); a throw rolls the pipeline back and is rethrown.
   */
  onStored?: (tx: Queryable, pipeline: Pipeline) => Promise<void>;
}

export interface TriggerServiceOptions {
  db: Database;
  engine: WorkflowEngine;
  fetcher: GitConfigFetcher;
  compile: CompileFn;
  logger: Logger;
  /** Directory of registry orbs handed to the compiler. */
  orbsDir?: string;
}

const SOURCES: Record<TriggerType, string> = {
  api: "api",
  webhook: "webhook",
  schedule: "scheduled_pipeline",
  explicit: "cli",
};

/**
 * Triggers a pipeline: reads the config at the revision, compiles it, and stores the pipeline
 * with its workflows and first queued jobs in one transaction. A config that cannot be fetched
 * or compiled still makes a pipeline, in state `errored`, whose `errors` say why and where.
 */
export class TriggerService {
  private readonly log: Logger;

  constructor(private readonly opts: TriggerServiceOptions) {
    this.log = opts.logger.child({ unit: "trigger" });
  }

  async trigger(req: TriggerRequest): Promise<Pipeline> {
    const { project } = req;
    const errors: PipelineError[] = [];
    let branch = req.tag ? undefined : req.branch;
    if (!req.tag && !branch) {
      branch =
        project.defaultBranch ??
        (await this.opts.fetcher.defaultBranch(project.repositoryUrl)) ??
        "main";
    }
    const vcs: PipelineVcs = {
      ...(branch ? { branch } : {}),
      ...(req.tag ? { tag: req.tag } : {}),
      revision: req.revision ?? "",
      targetRepositoryUrl: project.repositoryUrl,
    };
    let source = req.configSource ?? null;
    if (!(req.configSource !== undefined && req.revision)) {
      try {
        const fetched = await this.opts.fetcher.fetch({
          url: project.repositoryUrl,
          ...(branch ? { branch } : {}),
          ...(req.tag ? { tag: req.tag } : {}),
          ...(req.revision ? { revision: req.revision } : {}),
        });
        vcs.revision = fetched.revision;
        vcs.commit = fetched.commit;
        if (source === null) source = fetched.source;
        if (source === null) {
          errors.push({
            type: "config-fetch",
            message: `.circleci/config.yml not found at ${fetched.revision.slice(0, 12)}`,
          });
        }
      } catch (err) {
        if (!(err instanceof ControlPlaneError)) throw err;
        errors.push({ type: "config-fetch", message: err.message });
      }
    }

    const number = await allocateNumbers(this.opts.db, project.id, "pipeline", 1);
    const id = randomUUID();
    let plan: PipelinePlan | undefined;
    let processed: string | undefined;
    if (source !== null && errors.length === 0) {
      const options: CompileOptions = {
        pipeline: {
          id,
          number,
          projectSlug: project.slug,
          gitUrl: project.repositoryUrl,
          ...(branch ? { branch } : {}),
          ...(req.tag ? { tag: req.tag } : {}),
          revision: vcs.revision,
          triggerSource: SOURCES[req.triggerType],
          parameters: req.parameters ?? {},
        },
        ...(this.opts.orbsDir ? { orbsDir: this.opts.orbsDir } : {}),
      };
      try {
        const result = await this.opts.compile(source, options);
        for (const e of result.errors) {
          errors.push({
            type: "config",
            message: `${e.file}:${e.line}:${e.col}: ${e.message}`,
            code: e.code,
            file: e.file,
            line: e.line,
            col: e.col,
          });
        }
        if (result.errors.length === 0 && result.plan) {
          plan = result.plan;
          processed = result.processed;
        }
      } catch (err) {
        this.log.error({ err, project: project.slug }, "compiler crashed");
        errors.push({ type: "other", message: `the compiler failed: ${String(err)}` });
      }
    }
    if (plan) {
      const source = SOURCES[req.triggerType];
      plan = {
        ...plan,
        workflows: plan.workflows.filter((w) => !w.schedule || source === "scheduled_pipeline"),
      };
    }

    const state: PipelineState = errors.length > 0 || !plan ? "errored" : "created";
    const { pipeline, workflowIds } = await this.opts.db.transaction(async (tx) => {
      const pipeline = await insertPipeline(tx, {
        id,
        projectId: project.id,
        number,
        state,
        triggerType: req.triggerType,
        triggerActorId: req.actorId,
        triggerParameters: req.parameters ?? {},
        vcs,
        scheduleId: req.scheduleId ?? null,
        parameters: plan?.parameters ?? {},
        configSource: source,
        configCompiled: processed ?? null,
        errors,
      });
      const workflowIds = plan
        ? await this.opts.engine.createWorkflows(tx, {
            pipelineId: id,
            projectId: project.id,
            plan,
            startedBy: req.actorId,
            requestId: req.audit?.requestId ?? null,
          })
        : [];
      await recordAudit(tx, {
        action: "pipeline.trigger",
        actor: req.audit?.actor ?? SYSTEM_ACTOR,
        target: { id, type: "pipeline", name: `${project.slug}/${number}` },
        payload: {
          project_id: project.id,
          number,
          state,
          trigger_type: req.triggerType,
          ...(branch ? { branch } : {}),
          ...(req.tag ? { tag: req.tag } : {}),
          revision: vcs.revision,
          ...(req.scheduleId ? { schedule_id: req.scheduleId } : {}),
        },
        requestId: req.audit?.requestId ?? null,
      });
      await req.onStored?.(tx, pipeline);
      return { pipeline, workflowIds };
    });
    this.opts.engine.kick(workflowIds);
    this.log.info(
      { pipelineId: id, project: project.slug, number, state, workflows: workflowIds.length },
      "pipeline triggered",
    );
    return pipeline;
  }
}
