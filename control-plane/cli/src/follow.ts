/** Follows a pipeline through the API until every workflow has stopped, reporting changes. */
import { DroverApiError, DroverUnreachableError } from "./client.js";
import type { ApiWorkflow, DroverClient } from "./client.js";

export interface FollowOptions {
  slug: string;
  pollMs?: number;
  write: (line: string) => void;
  /** Print `workflow NAME: STATUS` at the end (default true; `drover run` prints it itself). */
  printResult?: boolean;
  /** How long to keep reconnecting to a server that went away (default 10 minutes). */
  reconnectForMs?: number;
}

/** Backoff between reconnect attempts: 250 ms doubling to 5 s. */
const FIRST_BACKOFF_MS = 250;
const MAX_BACKOFF_MS = 5_000;
const DEFAULT_RECONNECT_FOR_MS = 10 * 60_000;

/** The server is restarting or gone: connection errors and a proxy's 502/503/504. */
export function isServerAway(err: unknown): boolean {
  return (
    err instanceof DroverUnreachableError ||
    (err instanceof DroverApiError && [502, 503, 504].includes(err.status))
  );
}

/** `workflow NAME: STATUS`, one line per workflow: the result of a followed pipeline. */
export function resultLines(workflows: ApiWorkflow[]): string[] {
  return workflows.map((wf) => `workflow ${wf.name}: ${wf.status}`);
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
  const reconnectForMs = opts.reconnectForMs ?? DEFAULT_RECONNECT_FOR_MS;
  let awaySince: number | undefined;
  let backoff = FIRST_BACKOFF_MS;
  for (;;) {
    let done: ApiWorkflow[] | undefined;
    try {
      done = await round();
    } catch (err) {
      if (!isServerAway(err)) throw err;
      const now = Date.now();
      if (awaySince === undefined) {
        awaySince = now;
        opts.write(`(${(err as Error).message}; reconnecting)`);
      } else if (now - awaySince >= reconnectForMs) {
        throw err;
      }
      await sleep(backoff);
      backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      continue;
    }
    if (awaySince !== undefined) {
      opts.write(`(reconnected to ${client.url})`);
      awaySince = undefined;
      backoff = FIRST_BACKOFF_MS;
    }
    if (done) {
      if (opts.printResult !== false) for (const l of resultLines(done)) opts.write(l);
      return done;
    }
    await sleep(opts.pollMs ?? 500);
  }

  /** One look at the pipeline; its final workflows once every one has stopped. */
  async function round(): Promise<ApiWorkflow[] | undefined> {
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
    return workflows.every((w) => w.stopped_at !== null) ? workflows : undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
