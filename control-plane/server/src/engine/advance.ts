/**
 * Advancing a workflow's DAG. `planAdvance` is the pure step: from the workflow and its jobs'
 * statuses it decides which blocked jobs move (`queued` for builds, `on_hold` for approvals,
 * `not_run` when a final requirement is not met, cascading), the tasks to create (one per parallel
 * node of each queued job) and the workflow's status. `advanceWorkflow` applies that plan in the
 * caller's transaction, which must hold the workflow's row lock (`lockWorkflow`) or have created
 * the workflow: the lock is what makes concurrent advances queue a job once. Advancing is
 * idempotent: a pass over unchanged statuses moves nothing and writes nothing. A canceled
 * workflow moves no job; its status is `canceled`.
 */
import type { Logger } from "pino";
import { recordAuditBatch } from "../audit/log.js";
import { SYSTEM_ACTOR } from "../audit/events.js";
import type { Queryable } from "../db/types.js";
import type { Workflow, WorkflowStatus } from "../model/records.js";
import { listJobs } from "../model/workflows.js";
import { evaluate, isFinal, workflowStatus, type Transition } from "./evaluate.js";
import { moveJobs, type JobForRules } from "./store/jobs.js";
import { insertTasks, type NewTask } from "./store/tasks.js";
import { readWorkflow, setWorkflowStatus } from "./store/workflows.js";

/** What advancing needs of a workflow. */
export type WorkflowForRules = Pick<
  Workflow,
  "id" | "status" | "carried" | "canceledAt" | "stoppedAt"
>;

export interface AdvancePlan {
  /** Job ids per new status. */
  moves: Record<Transition["to"], string[]>;
  /** The jobs that become `queued`, in the order the rules decided. */
  queued: JobForRules[];
  /** One `pending` task per parallel node of each queued job. */
  tasks: NewTask[];
  status: WorkflowStatus;
  /** Every job is final: the workflow stops. */
  final: boolean;
  /** The workflow row needs writing: its status changed, or it became final. */
  writeStatus: boolean;
}

/** Decides one pass of the workflow rules; changes nothing. */
export function planAdvance(wf: WorkflowForRules, jobs: readonly JobForRules[]): AdvancePlan {
  const transitions = wf.canceledAt ? [] : evaluate([...jobs], wf.carried);
  const byName = new Map(jobs.map((j) => [j.name, j]));
  const moves: AdvancePlan["moves"] = { queued: [], on_hold: [], not_run: [] };
  const queued: JobForRules[] = [];
  const tasks: NewTask[] = [];
  // In the order the rules decided (a cascade after what caused it).
  for (const t of transitions) {
    const job = byName.get(t.name);
    if (!job) continue;
    moves[t.to].push(job.id);
    if (t.to !== "queued") continue;
    queued.push(job);
    for (let node = 0; node < job.parallelism; node++) {
      tasks.push({
        jobId: job.id,
        workflowId: wf.id,
        nodeIndex: node,
        nodeTotal: job.parallelism,
        enableSsh: job.enableSsh,
      });
    }
  }
  const to = new Map(transitions.map((t) => [t.name, t.to]));
  const after = jobs.map((j) => ({ status: to.get(j.name) ?? j.status }));
  const status = workflowStatus(after, wf.canceledAt !== null);
  const final = after.every((j) => isFinal(j.status));
  return {
    moves,
    queued,
    tasks,
    status,
    final,
    writeStatus: status !== wf.status || (final && !wf.stoppedAt),
  };
}

export interface AdvanceOptions {
  /** The workflow and its jobs as this transaction just wrote them (skips reading them back). */
  known?: { wf: WorkflowForRules; jobs: JobForRules[] };
  /** The request that caused the pass, for the audit of queued jobs. */
  requestId?: string | null | undefined;
  log?: Logger | undefined;
}

/** Applies one pass of the rules to a workflow this transaction has locked or created. */
export async function advanceWorkflow(
  tx: Queryable,
  workflowId: string,
  opts: AdvanceOptions = {},
): Promise<AdvancePlan> {
  const wf = opts.known?.wf ?? (await readWorkflow(tx, workflowId));
  const jobs = opts.known?.jobs ?? (await listJobs(tx, workflowId));
  const plan = planAdvance(wf, jobs);
  for (const to of ["queued", "on_hold", "not_run"] as const) {
    await moveJobs(tx, plan.moves[to], to);
  }
  // workflow.job.scheduled: one INSERT for every job queued by this pass.
  await recordAuditBatch(
    tx,
    plan.queued.map((job) => ({
      action: "workflow.job.scheduled" as const,
      actor: SYSTEM_ACTOR,
      target: { id: job.id, type: "job", name: job.name },
      payload: { workflow_id: workflowId, parallelism: job.parallelism },
      requestId: opts.requestId ?? null,
    })),
  );
  await insertTasks(tx, plan.tasks);
  if (plan.writeStatus) {
    await setWorkflowStatus(tx, workflowId, plan.status, plan.final);
    opts.log?.debug({ workflowId, status: plan.status }, "workflow status");
  }
  return plan;
}
