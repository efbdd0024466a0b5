/**
 * Storing a pipeline plan's workflows and jobs, inside the trigger's transaction. Each workflow
 * starts `running` with its jobs `blocked`, then advances once (queuing what can start). Build jobs
 * get their project-wide numbers last, so the project's counter row stays locked only until the
 * caller commits. Nothing reaches the backend here: the caller kicks the engine after commit.
 */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { PipelinePlan } from "@drover/config-compiler";
import type { Queryable } from "../db/types.js";
import { advanceWorkflow } from "./advance.js";
import { insertJobs, numberJobs } from "./store/jobs.js";
import { insertWorkflow } from "./store/workflows.js";

export interface NewWorkflows {
  pipelineId: string;
  projectId: string;
  plan: PipelinePlan;
  startedBy: string | null;
  /** The HTTP request that triggered the pipeline, for the audit of queued jobs. */
  requestId?: string | null;
}

/** Resolves to the new workflows' ids, in plan order. */
export async function createWorkflows(
  tx: Queryable,
  input: NewWorkflows,
  log?: Logger,
): Promise<string[]> {
  const ids: string[] = [];
  const builds: string[] = [];
  for (const wf of input.plan.workflows) {
    const id = randomUUID();
    await insertWorkflow(tx, {
      id,
      pipelineId: input.pipelineId,
      projectId: input.projectId,
      name: wf.name,
      startedBy: input.startedBy,
    });
    const jobs = await insertJobs(
      tx,
      id,
      input.projectId,
      wf.jobs.map((plan, position) => ({ plan, position, enableSsh: false, rerunOf: null })),
    );
    builds.push(...jobs.filter((j) => j.type === "build").map((j) => j.id));
    // Fresh rows: no need to read back what was just written.
    await advanceWorkflow(tx, id, {
      known: {
        wf: { id, status: "running", carried: {}, canceledAt: null, stoppedAt: null },
        jobs,
      },
      requestId: input.requestId,
      log,
    });
    ids.push(id);
  }
  await numberJobs(tx, input.projectId, builds);
  return ids;
}
