import { Readable } from "node:stream";
import type { ReadableStream as WebReadableStream } from "node:stream/web";
import type { FastifyInstance, FastifyReply } from "fastify";
import { tlsFailure } from "@drover/tls";
import { z } from "zod";
import { ControlPlaneError, notFound } from "../../model/errors.js";
import { listTasksOfJob } from "../../model/workflows.js";
import { visibleJob, type SlugParams } from "../access.js";
import { parse, principalOf } from "../server.js";
import type { CoreRouteDeps } from "./deps.js";

/** Where step output is read: the output-processor and the service token its log routes take. */
export interface OutputSource {
  url: string;
  /** `Authorization: Bearer <readToken>` on log reads (the output-processor's read token). */
  readToken?: string;
  /** Verifies the output-processor's certificate against `DROVER_TLS_CA` (undici dispatcher). */
  dispatcher?: unknown;
}

const MAX_TAIL = 64 * 1024 * 1024;
const int = z.coerce.number().int().min(0);

const outputQuery = z
  .object({
    /** Parallel node (task) index. */
    node: int.default(0),
    /** One step's output only (the step number of the job details' `steps`). */
    step: int.optional(),
    format: z.enum(["text", "jsonl"]).default("text"),
    /** The last N bytes of output only. */
    tail: z.coerce.number().int().min(1).max(MAX_TAIL).optional(),
    from: z.coerce.number().int().min(1).optional(),
    to: z.coerce.number().int().min(1).optional(),
    /** Sent as a file to save (`content-disposition: attachment`). */
    download: z.enum(["0", "1", "true", "false"]).optional(),
  })
  .strict();

type OutputQuery = z.infer<typeof outputQuery>;

interface LogLine {
  kind: string;
  step?: number;
  data?: string;
  tail?: string;
}

/**
 * Step output through the control plane: `GET /api/v2/project/{slug}/job/{number}/output` with
 * `node`, `step`, `format=text|jsonl`, `tail`, `from`/`to` (seq range) and `download=1`. Project
 * visibility is checked here; the bytes come from the output-processor's log route, streamed.
 */
export function registerJobOutputRoutes(
  app: FastifyInstance,
  deps: CoreRouteDeps & { outputSource: () => OutputSource | null },
): void {
  app.get<{ Params: SlugParams & { number: string }; Querystring: Record<string, string> }>(
    "/api/v2/project/:vcs/:org/:repo/job/:number/output",
    async (req, reply) => {
      const q = parse(outputQuery, req.query, "query");
      const { project, job } = await visibleJob(deps.db, principalOf(req), req.params);
      const n = Number(req.params.number);
      const task = (await listTasksOfJob(deps.db, job.id)).find((t) => t.nodeIndex === q.node);
      if (!task) throw notFound(`Node ${q.node} of job ${n}`);
      const res = await readTaskLog(deps.outputSource(), task.id, {
        format: q.step === undefined ? q.format : "jsonl",
        tail: q.tail,
        from: q.from,
        to: q.to,
      });
      // Nothing stored yet (the task has not started): empty output, as CircleCI shows.
      if (!res) return send(reply, q, project.repo, n, Readable.from([]));
      const from = res.headers.get("x-drover-tail-from-seq");
      if (from) reply.header("x-drover-tail-from-seq", from);
      const body = Readable.fromWeb(res.body! as WebReadableStream<Uint8Array>);
      return send(reply, q, project.repo, n, q.step === undefined ? body : oneStep(body, q));
    },
  );
}

/**
 * Reads a task's stored log from the output-processor (`/output/v1/tasks/{id}/log`) with the
 * control plane's read token. Null when nothing is stored yet; a refusal or an unreachable
 * output-processor is the caller's 400 or `DROVER_ERR_OUTPUT_UNAVAILABLE`, saying why.
 */
export async function readTaskLog(
  source: OutputSource | null,
  taskId: string,
  params: { format: string; tail?: number; from?: number; to?: number },
): Promise<Response | null> {
  if (!source) throw unavailable("no output-processor is configured (DROVER_OUTPUT_URL)");
  const upstream = new URL(`/output/v1/tasks/${encodeURIComponent(taskId)}/log`, source.url);
  upstream.searchParams.set("format", params.format);
  for (const k of ["tail", "from", "to"] as const) {
    const v = params[k];
    if (v !== undefined) upstream.searchParams.set(k, String(v));
  }
  let res: Response;
  try {
    res = await fetch(upstream, {
      headers: source.readToken ? { authorization: `Bearer ${source.readToken}` } : {},
      signal: AbortSignal.timeout(30_000),
      ...(source.dispatcher ? ({ dispatcher: source.dispatcher } as RequestInit) : {}),
    });
  } catch (err) {
    const tls = tlsFailure(err, { peer: `the output-processor at ${source.url}` });
    throw unavailable(
      `the output-processor did not answer: ${tls?.message ?? (err as Error).message}`,
    );
  }
  if (res.status === 404) {
    await res.body?.cancel();
    return null;
  }
  if (res.ok && res.body) return res;
  const text = await res.text().catch(() => "");
  if (res.status === 400) {
    const body = JSON.parse(text || "{}") as { message?: string };
    throw new ControlPlaneError("DROVER_ERR_VALIDATION", body.message ?? "bad output query");
  }
  if (res.status === 401 || res.status === 403) {
    throw unavailable("the output-processor refused the read token (DROVER_OUTPUT_READ_TOKEN)");
  }
  throw unavailable(`the output-processor answered ${res.status}: ${text.slice(0, 200)}`);
}

function unavailable(message: string): ControlPlaneError {
  return new ControlPlaneError("DROVER_ERR_OUTPUT_UNAVAILABLE", message);
}

function send(
  reply: FastifyReply,
  q: OutputQuery,
  repo: string,
  number: number,
  body: Readable,
): FastifyReply {
  const jsonl = q.format === "jsonl";
  reply.header("content-type", jsonl ? "application/x-ndjson" : "text/plain; charset=utf-8");
  if (q.download === "1" || q.download === "true") {
    const name = `${repo}-job-${number}-node-${q.node}${q.step === undefined ? "" : `-step-${q.step}`}`;
    reply.header(
      "content-disposition",
      `attachment; filename="${name.replace(/[^\w.-]/g, "_")}.${jsonl ? "jsonl" : "log"}"`,
    );
  }
  return reply.send(body);
}

/** Keeps one step's entries of a JSON-lines log: as text, or as JSON lines. */
async function* oneStepLines(source: Readable, q: OutputQuery): AsyncGenerator<string> {
  let rest = "";
  const decoder = new TextDecoder();
  const pick = (line: string): string => {
    if (!line) return "";
    const e = JSON.parse(line) as LogLine;
    if (e.step !== q.step) return "";
    if (q.format === "jsonl") return `${line}\n`;
    return (e.kind === "output" ? (e.data ?? "") : "") + (e.tail ?? "");
  };
  for await (const chunk of source as AsyncIterable<Uint8Array>) {
    rest += decoder.decode(chunk, { stream: true });
    const end = rest.lastIndexOf("\n");
    if (end === -1) continue;
    const lines = rest.slice(0, end).split("\n");
    rest = rest.slice(end + 1);
    const out = lines.map(pick).join("");
    if (out) yield out;
  }
  const last = pick(rest + decoder.decode());
  if (last) yield last;
}

function oneStep(source: Readable, q: OutputQuery): Readable {
  return Readable.from(oneStepLines(source, q));
}
