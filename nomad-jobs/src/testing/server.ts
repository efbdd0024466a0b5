import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import type { AllocClientStatus } from "../client/types.js";
import { agentRoutes } from "./agent.js";
import { allocationRoutes } from "./allocations.js";
import { ClientNode } from "./client-node.js";
import { eventStreamRoutes } from "./event-stream.js";
import { HttpError, checkAcl, readBody, type Req, type Res, type Route } from "./http.js";
import { jobRoutes } from "./jobs.js";
import { logStreamRoutes } from "./log-stream.js";
import { LogStore } from "./logs.js";
import { nodeRoutes, testNode } from "./nodes.js";
import { TestScheduler } from "./scheduler.js";
import { NomadState, newEval, type Alloc, type TestNode } from "./state.js";

export interface NomadTestServerOptions {
  host?: string;
  /** Port to listen on (default 0: a dynamic port). */
  port?: number;
  /** ACL enabled: requests need one of these SecretIDs (X-Nomad-Token or Bearer). */
  aclTokens?: string[];
  /** Serve HTTPS with these PEMs; `ca` + `requireClientCert` enables mutual TLS. */
  tls?: { cert: string; key: string; ca?: string; requireClientCert?: boolean };
  /** Event stream heartbeat interval (Nomad: 10s). */
  heartbeatMs?: number;
  /** Place allocations when a job is registered (default true). */
  autoPlace?: boolean;
  /** Run raw_exec tasks as local processes (default false: tests drive allocations). */
  execRawExec?: boolean;
  /** The simulated client's environment, which raw_exec tasks inherit (default: ours). */
  execEnv?: NodeJS.ProcessEnv;
  /** Concurrent requests per client IP before 429 (Nomad's limits.http_max_conns_per_client). */
  maxConnsPerClient?: number;
  /** Split each streamed log write into pieces of at most this many bytes, with pauses. */
  logChunkBytes?: number;
  /** Nodes to register (default: one ready linux node of class linux-64bit in dc1). */
  nodes?: Array<Partial<TestNode>>;
  region?: string;
}

/**
 * A Nomad HTTP API server for tests, following api-docs: increasing raft index, blocking
 * queries, NDJSON event stream with `{}` heartbeats and index resume, text/plain errors with
 * Nomad's status codes, ACL tokens, TLS, jobs/evaluations/allocations whose lifecycle a test
 * drives (`runAllocation`, `completeAllocation`, `failAllocation`, `loseAllocation`) or that it
 * runs as processes (raw_exec), task logs as concatenated JSON frames, and a client that decodes
 * each task's driver config against the driver's spec from Nomad's source (`../driver-config/`).
 * One module per resource: jobs, allocations, nodes, event stream, logs, agent.
 */
export class NomadTestServer {
  readonly state = new NomadState();
  readonly logs = new LogStore();
  /** Requests served, by `METHOD /path-template`. */
  readonly requestCounts = new Map<string, number>();
  /** Milliseconds spent in handlers of `PUT /v1/jobs` (benchmarks subtract it). */
  readonly registerHandlerMs: number[] = [];
  /** Requests answered 429 by the per-client connection limit. */
  throttled = 0;
  url = "";
  readonly #opts: NomadTestServerOptions;
  readonly #server: http.Server;
  readonly #client: ClientNode;
  readonly #scheduler: TestScheduler;
  readonly #routes: Route[];
  readonly #streams = new Set<Res>();
  readonly #conns = new Map<string, number>();
  #failNext: Array<{ status: number; body: string; match?: RegExp }> = [];
  #healthy = true;

  private constructor(opts: NomadTestServerOptions) {
    this.#opts = opts;
    const region = opts.region ?? "global";
    const heartbeatMs = opts.heartbeatMs ?? 10_000;
    this.#client = new ClientNode(this.state, this.logs, {
      region,
      execRawExec: opts.execRawExec ?? false,
      execEnv: opts.execEnv,
    });
    this.#scheduler = new TestScheduler(this.state, this.#client, opts.autoPlace ?? true);
    const cluster = { state: this.state, scheduler: this.#scheduler, client: this.#client };
    this.#routes = [
      ...agentRoutes(() => this.#healthy),
      ...jobRoutes({ ...cluster, region, registerHandlerMs: this.registerHandlerMs }),
      ...allocationRoutes(cluster),
      ...nodeRoutes(this.state),
      ...eventStreamRoutes({ state: this.state, streams: this.#streams, heartbeatMs }),
      ...logStreamRoutes({
        state: this.state,
        logs: this.logs,
        heartbeatMs,
        logChunkBytes: opts.logChunkBytes,
      }),
    ];
    const handler = (req: Req, res: Res): void => void this.#handle(req, res);
    this.#server = opts.tls
      ? https.createServer(
          {
            cert: opts.tls.cert,
            key: opts.tls.key,
            ca: opts.tls.ca,
            requestCert: opts.tls.requireClientCert ?? false,
            rejectUnauthorized: opts.tls.requireClientCert ?? false,
          },
          handler,
        )
      : http.createServer(handler);
    this.#server.keepAliveTimeout = 30_000;
    // Like Nomad's limits.http_max_conns_per_client: connections beyond the limit get a 429.
    this.#server.on("connection", (socket: Socket) => {
      const limit = this.#opts.maxConnsPerClient;
      if (limit === undefined) return;
      const ip = socket.remoteAddress ?? "?";
      const n = (this.#conns.get(ip) ?? 0) + 1;
      this.#conns.set(ip, n);
      if (n > limit) (socket as { overLimit?: boolean }).overLimit = true;
      socket.once("close", () => {
        const left = (this.#conns.get(ip) ?? 1) - 1;
        if (left <= 0) this.#conns.delete(ip);
        else this.#conns.set(ip, left);
      });
    });
    const nodes = opts.nodes ?? [{}];
    for (const [i, n] of nodes.entries()) this.state.nodes.push(testNode(i, n));
  }

  /** Starts a server on a dynamic port. */
  static async start(opts: NomadTestServerOptions = {}): Promise<NomadTestServer> {
    const s = new NomadTestServer(opts);
    const host = opts.host ?? "127.0.0.1";
    await new Promise<void>((resolve, reject) => {
      s.#server.once("error", reject);
      s.#server.listen(opts.port ?? 0, host, () => resolve());
    });
    const { port } = s.#server.address() as AddressInfo;
    s.url = `${opts.tls ? "https" : "http"}://${host}:${port}`;
    for (const n of s.state.nodes) n.HTTPAddr = `${host}:${port}`;
    return s;
  }

  async close(): Promise<void> {
    this.#client.killAll();
    this.dropEventStreams();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // ---- test controls -------------------------------------------------------------------------

  /** Blocking queries currently waiting for their index. */
  get blockedQueries(): number {
    return this.state.blockedQueries;
  }

  /** Closes every open event stream (clients should resume from their last index). */
  dropEventStreams(): void {
    for (const res of this.#streams) res.destroy();
    this.#streams.clear();
  }

  /** Answers the next `n` requests (optionally only those whose path matches) with this error. */
  failNext(n: number, status: number, body = "injected failure", match?: RegExp): void {
    for (let i = 0; i < n; i++) this.#failNext.push({ status, body, match });
  }

  setHealthy(healthy: boolean): void {
    this.#healthy = healthy;
  }

  allocationsOf(jobId: string, namespace = "default"): Alloc[] {
    return this.state.jobAllocs(namespace, jobId).sort((a, b) => a.CreateIndex - b.CreateIndex);
  }

  /** Resolves with a job's first allocation matching `pred`, as soon as a commit makes one. */
  async waitForAllocation(
    jobId: string,
    pred: (a: Alloc) => boolean = () => true,
    { namespace = "default", timeoutMs = 10_000 } = {},
  ): Promise<Alloc> {
    const find = (): Alloc | undefined => this.allocationsOf(jobId, namespace).find(pred);
    const now = find();
    if (now) return now;
    return new Promise<Alloc>((resolve, reject) => {
      const onCommit = (): void => {
        const hit = find();
        if (!hit) return;
        done();
        resolve(hit);
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`no matching allocation of ${jobId} after ${timeoutMs}ms`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.state.off("commit", onCommit);
      };
      this.state.on("commit", onCommit);
    });
  }

  /** Client: the allocation's tasks started (throws if the client already ended it). */
  runAllocation(allocId: string): void {
    this.#client.run(allocId);
  }

  /** Client: every task exited with this code (0: complete, else failed). */
  completeAllocation(allocId: string, exitCode = 0): void {
    this.#client.complete(allocId, exitCode);
  }

  /** Client: a task failed (driver error or non-zero exit); the allocation fails. */
  failAllocation(
    allocId: string,
    opts: { exitCode?: number; driverError?: string; message?: string; task?: string } = {},
  ): void {
    this.#client.fail(allocId, opts);
  }

  /** The allocation's node went down; Nomad replaces lost batch allocations (`replace`). */
  loseAllocation(allocId: string, { replace = true } = {}): Alloc | undefined {
    this.#client.lose(allocId);
    if (!replace) return undefined;
    const a = this.state.alloc(allocId);
    const stored = this.state.job(a.Namespace, a.JobID);
    if (!stored || stored.stopped) return undefined;
    const group = stored.job.TaskGroups?.find((g) => g.Name === a.TaskGroup);
    if (!group) return undefined;
    return this.#scheduler.place(stored, group, newEval(a.Namespace, stored.job, "node-update"), a);
  }

  appendLog(allocId: string, task: string, type: "stdout" | "stderr", data: string | Buffer): void {
    this.logs.file(allocId, task, type).append(typeof data === "string" ? Buffer.from(data) : data);
  }

  truncateLog(allocId: string, task: string, type: "stdout" | "stderr"): void {
    this.logs.file(allocId, task, type).truncate();
  }

  deleteLog(allocId: string, task: string, type: "stdout" | "stderr"): void {
    this.logs.file(allocId, task, type).remove();
  }

  /** Publishes synthetic allocation events (benchmarks of event processing). */
  publishAllocationEvents(allocs: Alloc[], perBatch: number): void {
    for (let i = 0; i < allocs.length; i += perBatch) {
      const slice = allocs.slice(i, i + perBatch);
      this.state.commit(
        ["allocs"],
        slice.map((a) => ({
          Topic: "Allocation",
          Type: "AllocationUpdated",
          Key: a.ID,
          Namespace: a.Namespace,
          FilterKeys: [a.JobID, ""],
          Payload: { Allocation: a },
        })),
      );
    }
  }

  // ---- HTTP ----------------------------------------------------------------------------------

  async #handle(req: Req, res: Res): Promise<void> {
    try {
      if ((req.socket as { overLimit?: boolean }).overLimit) {
        this.throttled++;
        res.setHeader("connection", "close");
        throw new HttpError(
          429,
          "Your IP is issuing too many concurrent connections, please rate limit your calls\n",
        );
      }
      const url = new URL(req.url ?? "/", "http://nomad");
      const injected = this.#failNext.findIndex((f) => !f.match || f.match.test(url.pathname));
      if (injected >= 0) {
        const f = this.#failNext.splice(injected, 1)[0]!;
        await readBody(req);
        throw new HttpError(f.status, f.body);
      }
      await this.#route(req, res, url);
    } catch (err) {
      if (res.headersSent) {
        res.destroy();
        return;
      }
      const status = err instanceof HttpError ? err.status : 500;
      const body = err instanceof Error ? err.message : String(err);
      res.writeHead(status, { "content-type": "text/plain; charset=utf-8" });
      res.end(body);
    }
  }

  async #route(req: Req, res: Res, url: URL): Promise<void> {
    const method = req.method ?? "GET";
    for (const route of this.#routes) {
      const m = route.path.exec(url.pathname);
      if (!m || !route.methods.includes(method)) continue;
      const key = `${method} ${route.name}`;
      this.requestCounts.set(key, (this.requestCounts.get(key) ?? 0) + 1);
      if (!route.public) checkAcl(req, this.#opts.aclTokens);
      const query = url.searchParams;
      await route.handle(req, res, {
        params: m.slice(1).map((p) => decodeURIComponent(p)),
        query,
        ns: query.get("namespace") || "default",
      });
      return;
    }
    checkAcl(req, this.#opts.aclTokens);
    throw new HttpError(404, `Invalid method or URL: ${method} ${url.pathname}`);
  }
}

export type { AllocClientStatus };
