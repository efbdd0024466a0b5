import type { FastifyInstance } from "fastify";
import { ControlPlaneError, notFound } from "../../model/errors.js";
import { getPipeline } from "../../model/pipelines.js";
import { getWorkflow, listTaskSteps, listTasksOfJob } from "../../model/workflows.js";
import { visibleJob, type SlugParams } from "../access.js";
import { principalOf } from "../server.js";
import type { CoreRouteDeps } from "./deps.js";
import { readTaskLog, type OutputSource } from "./job-output.js";

type BuildParams = SlugParams & { build_num: string };

/** One entry of a v1.1 action's output, as CircleCI's output_url serves it. */
export interface V1OutputMessage {
  message: string;
  time: string;
  type: "out" | "err";
}

interface LogLine {
  kind: string;
  step?: number;
  data?: string;
  tail?: string;
  /** Epoch milliseconds. */
  ts?: number;
  stream?: "out" | "err";
}

function iso(d: Date | null | undefined): string | null {
  return d ? d.toISOString() : null;
}

/** CircleCI's v1.1 lifecycle/outcome pair for a Drover job status. */
function lifecycleOf(status: string): { lifecycle: string; outcome: string | null } {
  if (status === "queued" || status === "blocked" || status === "not_running") {
    return { lifecycle: status === "queued" ? "queued" : "not_running", outcome: null };
  }
  if (status === "running") return { lifecycle: "running", outcome: null };
  return { lifecycle: "finished", outcome: status };
}

/**
 * CircleCI API v1.1 compatibility: `GET /api/v1.1/project/{vcs}/{org}/{repo}/{build_num}` (job
 * details with `steps[].actions[]`) and each action's `output_url`, a JSON array of
 * `{message, time, type}` read from the output-processor.
 */
export function registerV1Routes(
  app: FastifyInstance,
  deps: CoreRouteDeps & { outputSource: () => OutputSource | null },
): void {
  const { db } = deps;

  app.get<{ Params: BuildParams }>("/api/v1.1/project/:vcs/:org/:repo/:build_num", async (req) => {
    const params = { ...req.params, number: req.params.build_num };
    const { project, job } = await visibleJob(db, principalOf(req), params);
    const workflow = await getWorkflow(db, job.workflowId);
    const pipeline = workflow ? await getPipeline(db, workflow.pipelineId) : null;
    if (!workflow || !pipeline) throw notFound("Job");
    const tasks = await listTasksOfJob(db, job.id);
    const base = `${deps.urls.public}/api/v1.1/project/${project.slug}/${job.number}/output`;
    const byStep = new Map<number, { name: string; actions: unknown[] }>();
    for (const t of tasks) {
      for (const s of await listTaskSteps(db, t.id)) {
        const entry = byStep.get(s.step) ?? { name: s.name, actions: [] };
        entry.actions.push({
          index: t.nodeIndex,
          step: s.step,
          name: s.name,
          type: "test",
          status: s.status,
          failed: s.status === "failed" ? true : null,
          exit_code: s.exitCode,
          start_time: iso(s.startedAt),
          end_time: iso(s.finishedAt),
          run_time_millis: s.durationMs,
          has_output: true,
          output_url: `${base}/${s.step}/${t.nodeIndex}`,
        });
        byStep.set(s.step, entry);
      }
    }
    const started = job.startedAt?.getTime();
    const stopped = job.stoppedAt?.getTime();
    return {
      build_num: job.number,
      build_url: `${deps.urls.public}/jobs/${job.id}`,
      username: project.org,
      reponame: project.repo,
      vcs_type: project.vcs,
      vcs_url: project.repositoryUrl,
      vcs_revision: pipeline.vcs.revision,
      branch: pipeline.vcs.branch ?? null,
      vcs_tag: pipeline.vcs.tag ?? null,
      subject: pipeline.vcs.commit?.subject ?? null,
      body: pipeline.vcs.commit?.body ?? null,
      status: job.status,
      ...lifecycleOf(job.status),
      parallel: job.parallelism,
      queued_at: iso(job.queuedAt),
      start_time: iso(job.startedAt),
      stop_time: iso(job.stoppedAt),
      build_time_millis: started !== undefined && stopped !== undefined ? stopped - started : null,
      why: pipeline.triggerType,
      workflows: {
        workflow_id: workflow.id,
        workflow_name: workflow.name,
        job_name: job.name,
        job_id: job.id,
        pipeline_id: pipeline.id,
      },
      steps: [...byStep.entries()].sort((a, b) => a[0] - b[0]).map(([, v]) => v),
    };
  });

  app.get<{ Params: BuildParams & { step: string; index: string } }>(
    "/api/v1.1/project/:vcs/:org/:repo/:build_num/output/:step/:index",
    async (req) => {
      const params = { ...req.params, number: req.params.build_num };
      const { job } = await visibleJob(db, principalOf(req), params);
      const step = Number(req.params.step);
      const node = Number(req.params.index);
      if (!Number.isInteger(step) || !Number.isInteger(node) || step < 0 || node < 0) {
        throw new ControlPlaneError("DROVER_ERR_VALIDATION", "step and index must be integers");
      }
      const task = (await listTasksOfJob(db, job.id)).find((t) => t.nodeIndex === node);
      if (!task) throw notFound(`Node ${node} of job ${job.number}`);
      const res = await readTaskLog(deps.outputSource(), task.id, { format: "jsonl" });
      if (!res) return [];
      const out: V1OutputMessage[] = [];
      for (const line of (await res.text()).split("\n")) {
        if (!line) continue;
        const e = JSON.parse(line) as LogLine;
        if (e.step !== step || e.kind !== "output") continue;
        out.push({
          message: (e.data ?? "") + (e.tail ?? ""),
          time: new Date(e.ts ?? Date.now()).toISOString(),
          type: e.stream === "err" ? "err" : "out",
        });
      }
      return out;
    },
  );
}
