import type { IncomingMessage, ServerResponse } from "node:http";
import type { Logger } from "pino";
import type { LogStore, TaskMeta } from "../store/types.js";
import { droppedLine, entryText } from "../store/types.js";

/** Decides whether a request may read a task's log (the control plane supplies it). */
export type ReadAuthorizer = (req: IncomingMessage, task: TaskMeta) => Promise<boolean>;

const LOG_PATH = /^\/output\/v1\/tasks\/([^/]+)\/(log|raw)$/;

function intParam(url: URL, name: string): number | undefined | Error {
  const v = url.searchParams.get(name);
  if (v === null || v === "") return undefined;
  if (!/^\d+$/.test(v))
    return new Error(`query parameter '${name}' must be a non-negative integer, got '${v}'`);
  return Number(v);
}

function fail(res: ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify({ code, message }));
}

/**
 * `GET /output/v1/tasks/{id}/log?from=&to=&format=text|jsonl` (seq range, `to` exclusive) or
 * `?fromByte=&toByte=` (output byte range, text only), and `GET .../raw` (the whole text as a
 * download). ANSI sequences are kept. Returns false when the path is not one of these.
 */
export async function handleLogRequest(
  req: IncomingMessage,
  res: ServerResponse,
  deps: { store: LogStore; authorize: ReadAuthorizer; logger: Logger },
): Promise<boolean> {
  const url = new URL(req.url ?? "/", "http://x");
  const m = LOG_PATH.exec(url.pathname);
  if (!m) return false;
  if (req.method !== "GET" && req.method !== "HEAD") {
    fail(res, 405, "DROVER_ERR_OUTPUT_METHOD", "only GET is allowed");
    return true;
  }
  const taskId = decodeURIComponent(m[1] as string);
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
  const format = url.searchParams.get("format") ?? "text";
  if (format !== "text" && format !== "jsonl") {
    fail(res, 400, "DROVER_ERR_OUTPUT_QUERY", `format must be text or jsonl, got '${format}'`);
    return true;
  }
  const params = {
    from: intParam(url, "from"),
    to: intParam(url, "to"),
    fromByte: intParam(url, "fromByte"),
    toByte: intParam(url, "toByte"),
  };
  for (const v of Object.values(params)) {
    if (v instanceof Error) {
      fail(res, 400, "DROVER_ERR_OUTPUT_QUERY", v.message);
      return true;
    }
  }
  const { from, to, fromByte, toByte } = params as Record<string, number | undefined>;
  const byBytes = fromByte !== undefined || toByte !== undefined;
  if (byBytes && (from !== undefined || to !== undefined || format !== "text")) {
    fail(
      res,
      400,
      "DROVER_ERR_OUTPUT_QUERY",
      "fromByte/toByte go with format=text and without from/to",
    );
    return true;
  }
  const stat = await deps.store.stat(taskId);
  res.writeHead(200, {
    "content-type": format === "jsonl" ? "application/x-ndjson" : "text/plain; charset=utf-8",
    "x-drover-last-seq": String(stat?.lastSeq ?? 0),
    "x-drover-finished": String(stat?.finished ?? false),
  });
  if (byBytes || (format === "text" && from === undefined && to === undefined)) {
    for await (const piece of deps.store.readText(taskId, { fromByte, toByte })) {
      if (!res.write(piece)) await new Promise((r) => res.once("drain", r));
    }
    res.end();
    return true;
  }
  let next = from ?? 1;
  for (;;) {
    const page = await deps.store.readEntries(taskId, next, { toSeq: to, maxBytes: 256 * 1024 });
    let out = "";
    for (const e of page.entries) {
      if (format === "jsonl") out += `${JSON.stringify(e)}\n`;
      else out += e.kind === "dropped" ? droppedLine(e) : entryText(e);
      next = (e.kind === "dropped" ? e.toSeq : e.seq) + 1;
    }
    if (out && !res.write(out)) await new Promise((r) => res.once("drain", r));
    if (page.done || page.entries.length === 0) break;
  }
  res.end();
  return true;
}
