/**
 * Streams a pipeline's step output to the terminal while it runs: finds the pipeline's tasks
 * through the API and reads each task's log from the output-processor
 * (`GET /output/v1/tasks/{id}/log?from=<seq>&format=jsonl`), printing step headers and complete
 * lines prefixed by the job (and node) they came from.
 */
import { tlsFailure } from "@drover/tls";
import { networkReason, type DroverClient } from "./client.js";

interface Entry {
  seq: number;
  kind: "output" | "step_started" | "step_finished" | "task_finished" | "dropped";
  step?: number;
  name?: string;
  stream?: "out" | "err";
  data?: string;
  exitCode?: number | null;
  status?: string;
  result?: string;
  tail?: string;
  toSeq?: number;
  textBytes?: number;
}

interface TaskCursor {
  label: string;
  next: number;
  finished: boolean;
  /** Partial last line per `step:stream`. */
  partial: Map<string, string>;
}

export interface LiveOutputOptions {
  client: DroverClient;
  /** The API token, sent to the output-processor, which allows readers of the project only. */
  token: string;
  outputUrl: string;
  slug: string;
  write: (line: string) => void;
  pollMs?: number;
}

const QUIET_STATUSES = new Set(["blocked", "queued", "not_run", "on_hold", "unauthorized"]);

export class LiveOutput {
  private readonly tasks = new Map<string, TaskCursor>();
  private readonly jobsDone = new Set<string>();
  private stopped = false;
  private loop: Promise<void> | undefined;
  private isPaused = false;

  constructor(private readonly opts: LiveOutputOptions) {}

  /** Starts following the pipeline in the background. */
  start(pipelineId: string): void {
    this.loop = this.run(pipelineId);
  }

  /**
   * Stops after reading every task's log to its end (`task_finished`), so that nothing of the
   * jobs' output comes after what the caller prints next; gives up on a log after `graceMs`
   * (an agent that died before finishing its log).
   */
  async stop(pipelineId: string, graceMs = 5_000): Promise<void> {
    this.stopped = true;
    await this.loop;
    const deadline = Date.now() + graceMs;
    let discovered = false;
    for (;;) {
      try {
        if (!discovered) {
          await this.discover(pipelineId);
          discovered = true;
        }
        await this.readAll();
        this.resumed();
      } catch (err) {
        this.paused(err);
      }
      if (discovered && [...this.tasks.values()].every((t) => t.finished)) break;
      if (Date.now() > deadline) break;
      await sleep(200);
    }
    for (const t of this.tasks.values()) this.flushPartials(t);
  }

  private async run(pipelineId: string): Promise<void> {
    let round = 0;
    while (!this.stopped) {
      try {
        if (round++ % 3 === 0) await this.discover(pipelineId);
        await this.readAll();
        this.resumed();
      } catch (err) {
        this.paused(err);
      }
      await sleep(this.opts.pollMs ?? 250);
    }
  }

  /** Says once per outage that output stopped coming (server restarting, say). */
  private paused(err: unknown): void {
    if (this.isPaused) return;
    this.isPaused = true;
    this.opts.write(`(live output paused: ${err instanceof Error ? err.message : String(err)})`);
  }

  private resumed(): void {
    if (!this.isPaused) return;
    this.isPaused = false;
    this.opts.write("(live output resumed)");
  }

  /** Finds tasks of jobs that have started. */
  private async discover(pipelineId: string): Promise<void> {
    const { client, slug } = this.opts;
    const workflows = (await client.pipelineWorkflows(pipelineId)).items;
    for (const wf of workflows) {
      for (const job of (await client.workflowJobs(wf.id)).items) {
        if (job.job_number === undefined || QUIET_STATUSES.has(job.status)) continue;
        if (this.jobsDone.has(job.id)) continue;
        const detail = await client.job(slug, job.job_number);
        const total = detail.steps.length;
        for (const node of detail.steps) {
          if (this.tasks.has(node.task_id)) continue;
          this.tasks.set(node.task_id, {
            label: total > 1 ? `${job.name} ${node.index + 1}/${total}` : job.name,
            next: 1,
            finished: false,
            partial: new Map(),
          });
        }
        if (job.status !== "running" && total > 0) this.jobsDone.add(job.id);
      }
    }
  }

  private async readAll(): Promise<void> {
    await Promise.all(
      [...this.tasks.entries()].filter(([, t]) => !t.finished).map(([id, t]) => this.read(id, t)),
    );
  }

  private async read(taskId: string, t: TaskCursor): Promise<void> {
    const url = new URL(
      `/output/v1/tasks/${encodeURIComponent(taskId)}/log?from=${t.next}&format=jsonl`,
      this.opts.outputUrl,
    );
    let res: Response;
    try {
      res = await fetch(url, {
        ...this.opts.client.fetchOptions,
        headers: { "circle-token": this.opts.token },
      });
    } catch (err) {
      const tls = tlsFailure(err, { peer: `the output-processor at ${this.opts.outputUrl}` });
      if (tls) throw tls;
      throw new Error(
        `cannot reach the output-processor at ${this.opts.outputUrl}: ${networkReason(err)}`,
        { cause: err },
      );
    }
    if (res.status === 404) {
      await res.body?.cancel();
      return; // nothing stored yet
    }
    if (!res.ok) {
      await res.body?.cancel();
      throw new Error(`output-processor answered ${res.status} for task ${taskId}`);
    }
    const text = await res.text();
    for (const line of text.split("\n")) {
      if (!line) continue;
      const e = JSON.parse(line) as Entry;
      this.render(t, e);
      t.next = (e.kind === "dropped" ? (e.toSeq ?? e.seq) : e.seq) + 1;
      if (e.kind === "task_finished") t.finished = true;
    }
  }

  private line(t: TaskCursor, text: string): void {
    this.opts.write(`[${t.label}] ${text}`);
  }

  private emitText(t: TaskCursor, key: string, data: string): void {
    const pieces = ((t.partial.get(key) ?? "") + data).split(/\r?\n/);
    t.partial.set(key, pieces.pop() ?? "");
    for (const p of pieces) this.line(t, p);
  }

  private flushPartials(t: TaskCursor, step?: number): void {
    for (const [key, rest] of t.partial) {
      if (step !== undefined && !key.startsWith(`${step}:`)) continue;
      if (rest) this.line(t, rest);
      t.partial.delete(key);
    }
  }

  private render(t: TaskCursor, e: Entry): void {
    switch (e.kind) {
      case "step_started":
        this.line(t, `==> ${e.name ?? `step ${e.step}`}`);
        break;
      case "output":
        this.emitText(t, `${e.step}:${e.stream}`, e.data ?? "");
        break;
      case "step_finished":
        if (e.tail) this.emitText(t, `${e.step}:out`, e.tail);
        this.flushPartials(t, e.step);
        if (e.status !== "success") {
          this.line(
            t,
            `<== ${e.status ?? "finished"}${e.exitCode != null ? ` (exit ${e.exitCode})` : ""}`,
          );
        }
        break;
      case "task_finished":
        if (e.tail) this.emitText(t, "task:out", e.tail);
        this.flushPartials(t);
        this.line(t, `job ${e.result ?? "finished"}`);
        break;
      case "dropped":
        this.line(t, `[drover: ${e.textBytes ?? 0} bytes of output dropped here (size limit)]`);
        break;
    }
  }
}

/** Where the server's output-processor is: the given URL, else what `/healthz` says. */
export async function discoverOutputUrl(
  serverUrl: string,
  fetchOptions: RequestInit = {},
): Promise<string | undefined> {
  try {
    const res = await fetch(new URL("/healthz", serverUrl), fetchOptions);
    if (!res.ok) return undefined;
    const body = (await res.json()) as { output_url?: unknown };
    return typeof body.output_url === "string" ? body.output_url : undefined;
  } catch {
    return undefined;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
