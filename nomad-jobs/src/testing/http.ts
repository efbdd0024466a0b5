import type http from "node:http";
import type { NomadState, Table } from "./state.js";

export type Req = http.IncomingMessage;
export type Res = http.ServerResponse;

/** An error answered as Nomad does: this status and a text/plain body. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** What a route handler gets besides the request and response. */
export interface RouteContext {
  /** The path's captured parts, URI-decoded. */
  params: string[];
  query: URLSearchParams;
  /** `?namespace=` (default `default`). */
  ns: string;
}

/** One endpoint; `name` (`/v1/job/:id`) keys `requestCounts`. */
export interface Route {
  methods: readonly string[];
  path: RegExp;
  name: string;
  /** Served without an ACL token (Nomad's agent health). */
  public?: boolean;
  handle(req: Req, res: Res, ctx: RouteContext): Promise<void> | void;
}

/** Go time.Duration strings as Nomad's `wait` accepts: "100ms", "10s", "5m", "1m30s". */
export function parseDuration(s: string | null): number | undefined {
  if (!s) return undefined;
  const units: Record<string, number> = {
    ns: 1e-6,
    us: 1e-3,
    µs: 1e-3,
    ms: 1,
    s: 1000,
    m: 60_000,
    h: 3_600_000,
  };
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ns|us|µs|ms|s|m|h)/g;
  let consumed = 0;
  for (const m of s.matchAll(re)) {
    total += Number(m[1]) * units[m[2]!]!;
    consumed += m[0].length;
  }
  if (consumed !== s.length)
    throw new HttpError(400, `Invalid wait time: time: invalid duration "${s}"`);
  return total;
}

export async function readBody(req: Req): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

export async function readJson(req: Req): Promise<unknown> {
  const text = await readBody(req);
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `Failed to decode request body: ${(err as Error).message}`);
  }
}

/** A JSON answer, with Nomad's index headers when `index` is given. */
export function sendJson(res: Res, status: number, body: unknown, index?: number): void {
  if (index !== undefined) {
    res.setHeader("X-Nomad-Index", String(index));
    res.setHeader("X-Nomad-KnownLeader", "true");
    res.setHeader("X-Nomad-LastContact", "0");
  }
  res.writeHead(status, { "content-type": "application/json" });
  res.end(JSON.stringify(body));
}

/** Blocking query: waits (up to `wait` + jitter) until the table index passes `?index=`. */
export async function blocking(
  state: NomadState,
  req: Req,
  res: Res,
  q: URLSearchParams,
  table: Table,
  read: () => unknown,
): Promise<void> {
  const minIndex = Number(q.get("index") ?? 0);
  if (minIndex > 0 && state.tableIndex[table] <= minIndex) {
    const wait = Math.min(parseDuration(q.get("wait")) ?? 300_000, 600_000);
    const jitter = Math.random() * (wait / 16);
    state.blockedQueries++;
    await new Promise<void>((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        state.off("commit", onCommit);
        req.socket.off("close", done);
        resolve();
      };
      const onCommit = (): void => {
        if (state.tableIndex[table] > minIndex) done();
      };
      const timer = setTimeout(done, wait + jitter);
      state.on("commit", onCommit);
      req.socket.once("close", done);
    }).finally(() => state.blockedQueries--);
  }
  if (res.destroyed) return;
  const body = read();
  sendJson(res, 200, body, Math.max(1, state.tableIndex[table]));
}

/** Nomad's ACL check: a known SecretID in X-Nomad-Token or a Bearer header. */
export function checkAcl(req: Req, tokens: readonly string[] | undefined): void {
  if (!tokens) return;
  const header = req.headers["x-nomad-token"];
  const auth = req.headers.authorization;
  const token =
    (Array.isArray(header) ? header[0] : header) ??
    (auth?.startsWith("Bearer ") ? auth.slice(7) : undefined);
  if (!token) throw new HttpError(403, "Permission denied");
  if (!tokens.includes(token)) throw new HttpError(403, "ACL token not found");
}
