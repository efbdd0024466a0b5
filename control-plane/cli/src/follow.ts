/** Follows a pipeline through the API until every workflow has stopped, reporting changes. */
import type { ApiWorkflow, DroverClient } from "./client.js";

export interface FollowOptions {
  slug: string;
  pollMs?: number;
  write: (line: string) => void;
}

const MARK: Record<string, string> = {
  success: "✓",
  failed: "✗",
  timedout: "✗",
  infrastructure_fail: "!",
  canceled: "-",
  not_run: "·",
  skipped: "·",
  running: "…",
};

/** Resolves to the pipeline's final workflows (empty for an errored pipeline). */
export async function followPipeline(
  client: DroverClient,
  pipelineId: string,
  opts: FollowOptions,
): Promise<ApiWorkflow[]> {
  const seenJob = new Map<string, string>();
  const seenStep = new Map<string, string>();
  const heldNotice = new Set<string>();
  for (;;) {
    const pipeline = await client.pipeline(pipelineId);
    if (pipeline.state === "errored") {
      for (const e of pipeline.errors) opts.write(`error (${e.type}): ${e.message}`);
      return [];
    }
    const workflows = (await client.pipelineWorkflows(pipelineId)).items;
    for (const wf of workflows) {
      const jobs = (await client.workflowJobs(wf.id)).items;
      for (const job of jobs) {
        const key = `${wf.id}/${job.id}`;
        const prev = seenJob.get(key);
        const stepsOpen =
          job.job_number !== undefined &&
          (job.status === "running" || prev === "running" || prev !== job.status);
        if (
          stepsOpen &&
          job.job_number !== undefined &&
          job.status !== "blocked" &&
          job.status !== "queued"
        ) {
          const detail = await client.job(opts.slug, job.job_number);
          for (const node of detail.steps) {
            for (const step of node.steps) {
              const sk = `${node.task_id}/${step.step}`;
              if (seenStep.get(sk) === step.status) continue;
              seenStep.set(sk, step.status);
              const where =
                node.index > 0 || detail.steps.length > 1 ? ` [node ${node.index}]` : "";
              const exit = step.exit_code !== null ? ` (exit ${step.exit_code})` : "";
              opts.write(
                `  ${wf.name}/${job.name}${where}: ${MARK[step.status] ?? "…"} ${step.name}${step.status === "running" ? "" : exit}`,
              );
            }
          }
        }
        if (prev !== job.status) {
          seenJob.set(key, job.status);
          opts.write(
            `${wf.name}/${job.name}${job.job_number !== undefined ? ` #${job.job_number}` : ""}: ${job.status}`,
          );
        }
        if (job.status === "on_hold" && !heldNotice.has(key)) {
          heldNotice.add(key);
          opts.write(
            `  approve with: POST /api/v2/workflow/${wf.id}/approve/${job.approval_request_id ?? job.id}`,
          );
        }
      }
    }
    if (workflows.every((w) => w.stopped_at !== null)) {
      for (const wf of workflows) opts.write(`workflow ${wf.name}: ${wf.status}`);
      return workflows;
    }
    await new Promise((r) => setTimeout(r, opts.pollMs ?? 500));
  }
}
