import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { OutputErrorCode } from "../errors.js";
import type { LogStore, TaskMeta } from "../store/types.js";
import { droppedLine, entryText, skippedLine, type SkippedEntry } from "../store/types.js";
import { BadRequest, enumParam, intParam, pathSegment } from "./request.js";

/** Largest `tail=` (bytes of output) one read may ask for. */
export const MAX_TAIL_BYTES = 64 * 1024 * 1024;

/** Decides whether a request may read a task's log (the control plane supplies it). */
export type ReadAuthorizer = (req: IncomingMessage, task: TaskMeta) => Promise<boolean>;

const LOG_PATH = /^\/output\/v1\/tasks\/([^/]+)\/(log|raw)$/;

/** Answers an error as JSON: `{code, message}`, and `field` for a malformed request. */
export function fail(
  res: ServerResponse,
  status: number,
  code: OutputErrorCode,
  message: string,
  field?: string,
): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(field === undefined ? { code, message } : { code, message, field }));
}

/**
 * `GET /output/v1/tasks/{id}/log?from=&to=&format=text|jsonl` (seq range, `to` exclusive),
 * `?fromByte=&toByte=` (output byte range, text only) or `?tail=N` (about the last N bytes of
 * output, from the start of the frame holding that byte; text or jsonl), and `GET .../raw` (the whole text as a download).
 * A tail that starts after the first frame begins with a `skipped` entry (jsonl) or a visible line
 * saying how much earlier output is not shown (text). ANSI sequences are kept. Returns false when
 * the path is not one of these; throws `BadRequest` for a malformed path or query.
 */
export async function handleLogRequest(
  req: IncomingMessage,
  res: ServerResponse,
  url: URL,
  deps: { store: LogStore; authorize: ReadAuthorizer; logger: Logger },
): Promise<boolean> {
  const m = LOG_PATH.exec(url.pathname);
  if (!m) return false;
  if (req.method !== "GET" && req.method !== "HEAD") {
    fail(res, 405, "DROVER_ERR_OUTPUT_METHOD", "only GET is allowed");
    return true;
  }
  const taskId = pathSegment(m[1] as string, "task id");
  // The whole query is checked before the log is looked up.
  const format = enumParam(url, "format", ["text", "jsonl"] as const, "text");
  const params = {
    from: intParam(url, "from"),
    to: intParam(url, "to"),
    fromByte: intParam(url, "fromByte"),
    toByte: intParam(url, "toByte"),
    tail: intParam(url, "tail"),
  };
  const meta = await deps.store.getMeta(taskId);
  // Same answer for unknown and forbidden: do not reveal which tasks exist.
  if (!meta || !(await deps.authorize(req, meta))) {
    fail(res, 404, "DROVER_ERR_OUTPUT_NOT_FOUND", `no log for task ${taskId}`);
    return true;
  }
  if (m[2] === "raw") {
    res.writeHead(200, {
      "content-type": "text/plain; charset=utf-8",
      "content-disposition": `attachment; filename="${taskId.replace(/[^A-Za-z0-9._-]/g, "_")}.log"`,
    });
    for await (const piece of deps.store.readText(taskId)) {
      if (!res.write(piece)) await new Promise((r) => res.once("drain", r));
    }
    res.end();
    return true;
  }
  const { from, to, fromByte, toByte, tail } = params;
  if (tail !== undefined) {
    const clash = (["from", "to", "fromByte", "toByte"] as const).filter(
      (k) => params[k] !== undefined,
    );
    const problem =
      clash.length > 0
        ? `tail cannot be combined with ${clash.join(", ")}`
        : tail < 1 || tail > MAX_TAIL_BYTES
          ? `tail must be between 1 and ${MAX_TAIL_BYTES} (bytes of output), got ${tail}`
          : null;
    if (problem) throw new BadRequest("tail", problem);
    return sendTail(res, deps.store, taskId, tail, format);
  }
  const byBytes = fromByte !== undefined || toByte !== undefined;
  if (byBytes && (from !== undefined || to !== undefined || format !== "text")) {
    throw new BadRequest(
      fromByte !== undefined ? "fromByte" : "toByte",
      "fromByte/toByte go with format=text and without from/to",
    );
  }
  await writeHead(res, deps.store, taskId, format);
  if (byBytes || (format === "text" && from === undefined && to === undefined)) {
    await sendText(res, deps.store, taskId, fromByte, toByte);
    return true;
  }
  await sendEntries(res, deps.store, taskId, from ?? 1, to, format);
  return true;
}

async function writeHead(
  res: ServerResponse,
  store: LogStore,
  taskId: string,
  format: "text" | "jsonl",
  extra: Record<string, string> = {},
): Promise<void> {
  const stat = await store.stat(taskId);
  res.writeHead(200, {
    "content-type": format === "jsonl" ? "application/x-ndjson" : "text/plain; charset=utf-8",
    "x-drover-last-seq": String(stat?.lastSeq ?? 0),
    "x-drover-finished": String(stat?.finished ?? false),
    ...extra,
  });
}

async function write(res: ServerResponse, text: string): Promise<void> {
  if (text && !res.write(text)) await new Promise((r) => res.once("drain", r));
}

async function sendText(
  res: ServerResponse,
  store: LogStore,
  taskId: string,
  fromByte?: number,
  toByte?: number,
): Promise<void> {
  for await (const piece of store.readText(taskId, { fromByte, toByte })) await write(res, piece);
  res.end();
}

async function sendEntries(
  res: ServerResponse,
  store: LogStore,
  taskId: string,
  from: number,
  to: number | undefined,
  format: "text" | "jsonl",
): Promise<void> {
  let next = from;
  for (;;) {
    const page = await store.readEntries(taskId, next, { toSeq: to, maxBytes: 256 * 1024 });
    let out = "";
    for (const e of page.entries) {
      if (format === "jsonl") out += `${JSON.stringify(e)}\n`;
      else out += e.kind === "dropped" ? droppedLine(e) : entryText(e);
      next = (e.kind === "dropped" ? e.toSeq : e.seq) + 1;
    }
    await write(res, out);
    if (page.done || page.entries.length === 0) break;
  }
  res.end();
}

/** `?tail=N`: the marker (when output is left out), then the log from the tail's first frame. */
async function sendTail(
  res: ServerResponse,
  store: LogStore,
  taskId: string,
  bytes: number,
  format: "text" | "jsonl",
): Promise<boolean> {
  const start = await store.tailStart(taskId, bytes);
  if (!start) {
    fail(res, 404, "DROVER_ERR_OUTPUT_NOT_FOUND", `no log for task ${taskId}`);
    return true;
  }
  await writeHead(res, store, taskId, format, { "x-drover-tail-from-seq": String(start.seq) });
  if (start.seq > 1) {
    const skipped: SkippedEntry = {
      kind: "skipped",
      seq: 1,
      toSeq: start.seq - 1,
      textBytes: start.textStart,
    };
    await write(res, format === "jsonl" ? `${JSON.stringify(skipped)}\n` : skippedLine(skipped));
  }
  if (format === "text") await sendText(res, store, taskId, start.textStart);
  else await sendEntries(res, store, taskId, start.seq, undefined, format);
  return true;
}
