import { setTimeout as sleep } from "node:timers/promises";
import { HttpError, type Req, type Res, type Route } from "./http.js";
import type { LogStore } from "./logs.js";
import { isTerminal, type NomadState } from "./state.js";

export interface LogStreamContext {
  state: NomadState;
  logs: LogStore;
  heartbeatMs: number;
  /** Split each write into pieces of at most this many bytes, with pauses. */
  logChunkBytes?: number;
}

/** `/v1/client/fs/logs/:alloc`: concatenated JSON frames (or `plain=true` text), `follow`. */
export function logStreamRoutes(ctx: LogStreamContext): Route[] {
  return [
    {
      methods: ["GET"],
      path: /^\/v1\/client\/fs\/logs\/([^/]+)$/,
      name: "/v1/client/fs/logs/:alloc",
      handle: (req, res, { params, query }) => streamLogs(ctx, req, res, params[0]!, query),
    },
  ];
}

async function streamLogs(
  ctx: LogStreamContext,
  req: Req,
  res: Res,
  allocId: string,
  q: URLSearchParams,
): Promise<void> {
  const a = ctx.state.allocs.get(allocId);
  if (!a) throw new HttpError(404, `Unknown allocation "${allocId}"`);
  const task = q.get("task");
  if (!task) throw new HttpError(400, "must include task name");
  if (!a.TaskStates || !(task in a.TaskStates))
    throw new HttpError(400, `unknown task name "${task}"`);
  const type = q.get("type") ?? "";
  if (type !== "stdout" && type !== "stderr")
    throw new HttpError(400, "must specify a valid log type (stdout or stderr)");
  const origin = q.get("origin") ?? "start";
  if (origin !== "start" && origin !== "end")
    throw new HttpError(400, `origin must be start or end; got "${origin}"`);
  const follow = q.get("follow") === "true";
  const plain = q.get("plain") === "true";
  const offset = Number(q.get("offset") ?? 0);
  if (!Number.isInteger(offset) || offset < 0)
    throw new HttpError(400, "offset must be a non-negative integer");
  const file = ctx.logs.file(allocId, task, type);
  let pos =
    origin === "end" ? Math.max(0, file.data.length - offset) : Math.min(offset, file.data.length);
  res.writeHead(200, {
    "content-type": plain ? "text/plain; charset=utf-8" : "application/json",
  });
  let writing = Promise.resolve();
  const write = (text: string | Buffer): void => {
    writing = writing.then(async () => {
      if (res.destroyed) return;
      const chunk = ctx.logChunkBytes;
      if (!chunk) {
        res.write(text);
        return;
      }
      const buf = Buffer.from(text);
      for (let i = 0; i < buf.length; i += chunk) {
        res.write(buf.subarray(i, i + chunk));
        await sleep(2);
      }
    });
  };
  const drain = (): void => {
    while (pos < file.data.length) {
      const data = file.data.subarray(pos, Math.min(file.data.length, pos + 64 * 1024));
      write(
        plain
          ? data
          : JSON.stringify({ File: file.file, Offset: pos, Data: data.toString("base64") }),
      );
      pos += data.length;
    }
  };
  drain();
  if (!follow || isTerminal(a.ClientStatus) || file.deleted) {
    await writing;
    res.end();
    return;
  }
  await new Promise<void>((resolve) => {
    const beat = setInterval(() => !plain && write("{}"), ctx.heartbeatMs);
    const onChange = (): void => drain();
    const onTruncate = (): void => {
      if (!plain) write(JSON.stringify({ File: file.file, FileEvent: "file truncated" }));
      pos = 0;
      drain();
    };
    const finish = (): void => {
      drain();
      stop();
    };
    const onDelete = (): void => {
      if (!plain) write(JSON.stringify({ File: file.file, FileEvent: "file deleted" }));
      stop();
    };
    const stop = (): void => {
      clearInterval(beat);
      file
        .off("change", onChange)
        .off("truncate", onTruncate)
        .off("delete", onDelete)
        .off("finish", finish);
      req.off("close", stop);
      void writing.then(() => res.end()).finally(resolve);
    };
    file
      .on("change", onChange)
      .on("truncate", onTruncate)
      .on("delete", onDelete)
      .on("finish", finish);
    req.once("close", stop);
  });
}
