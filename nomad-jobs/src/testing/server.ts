import { randomBytes, randomUUID } from "node:crypto";
import http from "node:http";
import https from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import type {
  Allocation,
  AllocClientStatus,
  AllocatedPort,
  Evaluation,
  NomadEvent,
  TaskGroupSummary,
} from "../client/types.js";
import type { NomadJob, NomadTask, NomadTaskGroup } from "../jobspec/schema.js";
import { LogStore } from "./logs.js";
import { ProcessRunner } from "./runner.js";
import {
  NomadState,
  isTerminal,
  newEval,
  newTaskState,
  taskEvent,
  type StoredJob,
  type Table,
  type TestNode,
} from "./state.js";

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

type Req = http.IncomingMessage;
type Res = http.ServerResponse;
type Alloc = Allocation & { Namespace: string };

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const NS_PER_MS = 1_000_000;

/**
 * A Nomad HTTP API server for tests, following api-docs: increasing raft index, blocking
 * queries, NDJSON event stream with `{}` heartbeats and index resume, text/plain errors with
 * Nomad's status codes, ACL tokens, TLS, jobs/evaluations/allocations whose lifecycle a test
 * drives (`runAllocation`, `completeAllocation`, `failAllocation`, `loseAllocation`) or that it
 * runs as processes (raw_exec), and task logs as concatenated JSON frames.
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
  readonly #opts: Required<
    Pick<NomadTestServerOptions, "heartbeatMs" | "autoPlace" | "execRawExec" | "region">
  > &
    NomadTestServerOptions;
  readonly #server: http.Server;
  readonly #runner: ProcessRunner;
  readonly #streams = new Set<Res>();
  readonly #conns = new Map<string, number>();
  readonly #queued = new Map<string, Record<string, number>>();
  #failNext: Array<{ status: number; body: string; match?: RegExp }> = [];
  #healthy = true;

  private constructor(opts: NomadTestServerOptions) {
    this.#opts = {
      heartbeatMs: 10_000,
      autoPlace: true,
      execRawExec: false,
      region: "global",
      ...opts,
    };
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
    this.#runner = new ProcessRunner(this.logs, {
      started: (allocId, task) => this.#taskStarted(allocId, task),
      exited: (allocId, task, code, signal, killed) =>
        this.#taskExited(allocId, task, code, signal, killed),
      failedToStart: (allocId, task, err) =>
        this.failAllocation(allocId, {
          driverError: `failed to launch command: ${err.message}`,
          task,
        }),
    });
    const nodes = opts.nodes ?? [{}];
    for (const [i, n] of nodes.entries()) this.state.nodes.push(this.#node(i, n));
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
    this.#runner.killAll();
    this.dropEventStreams();
    this.#server.closeAllConnections();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  // ---- test controls -------------------------------------------------------------------------

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

  /** Waits until a job has an allocation matching `pred`. */
  async waitForAllocation(
    jobId: string,
    pred: (a: Alloc) => boolean = () => true,
    { namespace = "default", timeoutMs = 10_000 } = {},
  ): Promise<Alloc> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.allocationsOf(jobId, namespace).find(pred);
      if (hit) return hit;
      if (Date.now() > deadline)
        throw new Error(`no matching allocation of ${jobId} after ${timeoutMs}ms`);
      await sleep(10);
    }
  }

  /** Client: the allocation's tasks started. */
  runAllocation(allocId: string): void {
    const a = this.#alloc(allocId);
    for (const task of Object.keys(a.TaskStates ?? {})) this.#taskStarted(allocId, task);
  }

  /** Client: every task exited with this code (0: complete, else failed). */
  completeAllocation(allocId: string, exitCode = 0): void {
    const a = this.#alloc(allocId);
    for (const task of Object.keys(a.TaskStates ?? {}))
      this.#taskExited(allocId, task, exitCode, null, false);
  }

  /** Client: a task failed (driver error or non-zero exit); the allocation fails. */
  failAllocation(
    allocId: string,
    opts: { exitCode?: number; driverError?: string; message?: string; task?: string } = {},
  ): void {
    const a = this.#alloc(allocId);
    const tasks = opts.task ? [opts.task] : Object.keys(a.TaskStates ?? {});
    this.#updateAlloc(a, "AllocationUpdated", (alloc) => {
      for (const t of tasks) {
        const ts = alloc.TaskStates![t] ?? newTaskState();
        const events = ts.Events ?? [];
        if (opts.driverError) {
          events.push(
            taskEvent("Driver Failure", {
              DriverError: opts.driverError,
              FailsTask: true,
              DisplayMessage: opts.driverError,
            }),
          );
        } else {
          const code = opts.exitCode ?? 1;
          const msg = opts.message ?? `Exit Code: ${code}`;
          events.push(
            taskEvent("Terminated", {
              ExitCode: code,
              Message: opts.message ?? "",
              DisplayMessage: msg,
            }),
          );
        }
        events.push(
          taskEvent("Not Restarting", {
            FailsTask: true,
            DisplayMessage: "Policy allows no restarts",
          }),
        );
        alloc.TaskStates![t] = {
          ...ts,
          State: "dead",
          Failed: true,
          FinishedAt: new Date().toISOString(),
          Events: events,
        };
      }
      alloc.ClientStatus = "failed";
      alloc.ClientDescription = "Failed tasks";
    });
    this.logs.finish(allocId);
  }

  /** The allocation's node went down; Nomad replaces lost batch allocations (`replace`). */
  loseAllocation(allocId: string, { replace = true } = {}): Alloc | undefined {
    const a = this.#alloc(allocId);
    this.#updateAlloc(a, "AllocationUpdated", (alloc) => {
      alloc.ClientStatus = "lost";
      alloc.ClientDescription = "alloc is lost since its node is down";
      alloc.DesiredDescription = "alloc is lost since its node is down";
      for (const ts of Object.values(alloc.TaskStates ?? {})) {
        ts.State = "dead";
        ts.Events = [
          ...(ts.Events ?? []),
          taskEvent("Lost", { DisplayMessage: "Task lost: node down" }),
        ];
      }
    });
    this.logs.finish(allocId);
    if (!replace) return undefined;
    const stored = this.state.job(a.Namespace, a.JobID);
    if (!stored || stored.stopped) return undefined;
    const group = stored.job.TaskGroups?.find((g) => g.Name === a.TaskGroup);
    if (!group) return undefined;
    const ev = newEval(a.Namespace, stored.job, "node-update");
    return this.#place(stored, group, ev, a);
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

  #count(key: string): void {
    this.requestCounts.set(key, (this.requestCounts.get(key) ?? 0) + 1);
  }

  async #route(req: Req, res: Res, url: URL): Promise<void> {
    const m = req.method ?? "GET";
    const p = url.pathname;
    const q = url.searchParams;
    let match: RegExpExecArray | null;
    if (p === "/v1/agent/health" && m === "GET") {
      this.#count("GET /v1/agent/health");
      const body = {
        client: { ok: this.#healthy, message: this.#healthy ? "ok" : "not ready" },
        server: { ok: this.#healthy, message: this.#healthy ? "ok" : "no leader" },
      };
      return this.#json(res, this.#healthy ? 200 : 500, body);
    }
    this.#acl(req);
    const ns = q.get("namespace") || "default";
    if (p === "/v1/jobs") {
      this.#count(`${m} /v1/jobs`);
      if (m === "GET") return this.#blocking(req, res, q, "jobs", () => this.#listJobs(ns, q));
      if (m === "PUT" || m === "POST") return this.#register(req, res, ns);
    } else if ((match = /^\/v1\/job\/([^/]+)(\/[a-z]+)?$/.exec(p))) {
      const id = decodeURIComponent(match[1]!);
      const sub = match[2] ?? "";
      this.#count(`${m} /v1/job/:id${sub}`);
      if (sub === "" && m === "GET")
        return this.#blocking(req, res, q, "jobs", () => this.#jobOut(this.#mustJob(ns, id)));
      if (sub === "" && m === "DELETE")
        return this.#deregister(res, ns, id, q.get("purge") === "true");
      if (sub === "" && (m === "PUT" || m === "POST")) return this.#register(req, res, ns);
      if (sub === "/summary" && m === "GET")
        return this.#blocking(req, res, q, "job_summary", () =>
          this.#summary(this.#mustJob(ns, id)),
        );
      if (sub === "/allocations" && m === "GET") {
        return this.#blocking(req, res, q, "allocs", () =>
          this.allocationsOf(id, ns).map((a) => this.#allocStub(a)),
        );
      }
      if (sub === "/evaluations" && m === "GET") {
        return this.#blocking(req, res, q, "evals", () =>
          [...this.state.evals.values()].filter((e) => e.Namespace === ns && e.JobID === id),
        );
      }
      if (sub === "/dispatch" && (m === "PUT" || m === "POST"))
        return this.#dispatch(req, res, ns, id, q.get("idempotency_token") ?? "");
    } else if (p === "/v1/allocations" && m === "GET") {
      this.#count("GET /v1/allocations");
      const prefix = q.get("prefix") ?? "";
      return this.#blocking(req, res, q, "allocs", () =>
        [...this.state.allocs.values()]
          .filter((a) => (ns === "*" || a.Namespace === ns) && a.ID.startsWith(prefix))
          .map((a) => this.#allocStub(a)),
      );
    } else if ((match = /^\/v1\/allocation\/([^/]+)(\/stop)?$/.exec(p))) {
      const id = decodeURIComponent(match[1]!);
      this.#count(`${m} /v1/allocation/:id${match[2] ?? ""}`);
      if (!match[2] && m === "GET") {
        return this.#blocking(req, res, q, "allocs", () => {
          const a = this.state.allocs.get(id);
          if (!a) throw new HttpError(404, "alloc not found");
          return {
            ...this.#allocStub(a),
            Job: this.state.job(a.Namespace, a.JobID)?.job ?? null,
            AllocModifyIndex: a.AllocModifyIndex,
          };
        });
      }
      if (match[2] && (m === "PUT" || m === "POST")) return this.#stopAlloc(res, id);
    } else if (p === "/v1/nodes" && m === "GET") {
      this.#count("GET /v1/nodes");
      const prefix = q.get("prefix") ?? "";
      return this.#blocking(req, res, q, "nodes", () =>
        this.state.nodes
          .filter((n) => n.ID.startsWith(prefix))
          .map(({ HTTPAddr: _h, Meta: _m, ...stub }) => stub),
      );
    } else if (p === "/v1/event/stream" && m === "GET") {
      this.#count("GET /v1/event/stream");
      return this.#eventStream(req, res, q);
    } else if ((match = /^\/v1\/client\/fs\/logs\/([^/]+)$/.exec(p)) && m === "GET") {
      this.#count("GET /v1/client/fs/logs/:alloc");
      return this.#streamLogs(req, res, decodeURIComponent(match[1]!), q);
    }
    throw new HttpError(404, `Invalid method or URL: ${m} ${p}`);
  }

  #acl(req: Req): void {
    const tokens = this.#opts.aclTokens;
    if (!tokens) return;
    const header = req.headers["x-nomad-token"];
    const auth = req.headers.authorization;
    const token =
      (Array.isArray(header) ? header[0] : header) ??
      (auth?.startsWith("Bearer ") ? auth.slice(7) : undefined);
    if (!token) throw new HttpError(403, "Permission denied");
    if (!tokens.includes(token)) throw new HttpError(403, "ACL token not found");
  }

  #headers(res: Res, index: number): void {
    res.setHeader("X-Nomad-Index", String(index));
    res.setHeader("X-Nomad-KnownLeader", "true");
    res.setHeader("X-Nomad-LastContact", "0");
  }

  #json(res: Res, status: number, body: unknown, index?: number): void {
    if (index !== undefined) this.#headers(res, index);
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  }

  /** Blocking query: waits (up to `wait` + jitter) until the table index passes `index`. */
  async #blocking(
    req: Req,
    res: Res,
    q: URLSearchParams,
    table: Table,
    read: () => unknown,
  ): Promise<void> {
    const minIndex = Number(q.get("index") ?? 0);
    if (minIndex > 0 && this.state.tableIndex[table] <= minIndex) {
      const wait = Math.min(parseDuration(q.get("wait")) ?? 300_000, 600_000);
      const jitter = Math.random() * (wait / 16);
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          this.state.off("commit", onCommit);
          req.socket.off("close", done);
          resolve();
        };
        const onCommit = (): void => {
          if (this.state.tableIndex[table] > minIndex) done();
        };
        const timer = setTimeout(done, wait + jitter);
        this.state.on("commit", onCommit);
        req.socket.once("close", done);
      });
    }
    if (res.destroyed) return;
    const body = read();
    this.#json(res, 200, body, Math.max(1, this.state.tableIndex[table]));
  }

  // ---- jobs ----------------------------------------------------------------------------------

  #mustJob(ns: string, id: string): StoredJob {
    const j = this.state.job(ns, id);
    if (!j) throw new HttpError(404, "job not found");
    return j;
  }

  #jobOut(stored: StoredJob): NomadJob {
    return { ...stored.job, Status: this.#jobStatus(stored), Stop: stored.stopped };
  }

  #listJobs(ns: string, q: URLSearchParams): unknown[] {
    const prefix = q.get("prefix") ?? "";
    const withMeta = q.get("meta") === "true";
    return [...this.state.jobs.values()]
      .filter((s) => (ns === "*" || s.job.Namespace === ns) && s.job.ID.startsWith(prefix))
      .sort((a, b) => (a.job.ID < b.job.ID ? -1 : 1))
      .map((s) => ({
        ID: s.job.ID,
        ParentID: s.job.ParentID ?? "",
        Name: s.job.Name ?? s.job.ID,
        Namespace: s.job.Namespace,
        Datacenters: s.job.Datacenters ?? [],
        NodePool: s.job.NodePool ?? "default",
        Multiregion: null,
        Type: s.job.Type ?? "service",
        Priority: s.job.Priority ?? 50,
        Periodic: false,
        ParameterizedJob: Boolean(s.job.ParameterizedJob) && !s.job.Dispatched,
        Stop: s.stopped,
        Status: this.#jobStatus(s),
        StatusDescription: "",
        JobSummary: this.#summary(s),
        ...(withMeta ? { Meta: s.job.Meta ?? null } : {}),
        CreateIndex: s.job.CreateIndex ?? 0,
        ModifyIndex: s.job.ModifyIndex ?? 0,
        JobModifyIndex: s.job.JobModifyIndex ?? 0,
        SubmitTime: s.job.SubmitTime ?? 0,
      }));
  }

  #jobStatus(s: StoredJob): string {
    const allocs = this.state.jobAllocs(s.job.Namespace, s.job.ID);
    if (s.job.ParameterizedJob && !s.job.Dispatched) return s.stopped ? "dead" : "running";
    if (allocs.some((a) => !isTerminal(a.ClientStatus) && a.DesiredStatus === "run"))
      return "running";
    const queued = Object.values(this.#queued.get(`${s.job.Namespace}/${s.job.ID}`) ?? {}).some(
      (n) => n > 0,
    );
    if (!s.stopped && (queued || allocs.length === 0)) return "pending";
    return "dead";
  }

  #summary(s: StoredJob): unknown {
    const summary: Record<string, TaskGroupSummary> = {};
    const queued = this.#queued.get(`${s.job.Namespace}/${s.job.ID}`) ?? {};
    for (const g of s.job.TaskGroups ?? []) {
      summary[g.Name] = {
        Queued: queued[g.Name] ?? 0,
        Complete: 0,
        Failed: 0,
        Running: 0,
        Starting: 0,
        Lost: 0,
        Unknown: 0,
      };
    }
    for (const a of this.state.jobAllocs(s.job.Namespace, s.job.ID)) {
      const g = (summary[a.TaskGroup] ??= {
        Queued: 0,
        Complete: 0,
        Failed: 0,
        Running: 0,
        Starting: 0,
        Lost: 0,
        Unknown: 0,
      });
      const key = (
        {
          pending: "Starting",
          running: "Running",
          complete: "Complete",
          failed: "Failed",
          lost: "Lost",
          unknown: "Unknown",
        } as const
      )[a.ClientStatus];
      g[key] = (g[key] ?? 0) + 1;
    }
    return {
      JobID: s.job.ID,
      Namespace: s.job.Namespace,
      Summary: summary,
      Children: { Pending: 0, Running: 0, Dead: 0 },
      CreateIndex: s.job.CreateIndex ?? 0,
      ModifyIndex: this.state.tableIndex.job_summary,
    };
  }

  async #register(req: Req, res: Res, queryNs: string): Promise<void> {
    const started = performance.now();
    const body = (await readJson(req)) as {
      Job?: NomadJob;
      EnforceIndex?: boolean;
      JobModifyIndex?: number;
    };
    if (!body || typeof body !== "object" || !body.Job || typeof body.Job !== "object") {
      throw new HttpError(400, "Job must be specified");
    }
    const job = body.Job;
    const ns = job.Namespace || queryNs;
    const problems = validateJob(job);
    if (problems.length > 0) {
      throw new HttpError(
        500,
        `${problems.length} error${problems.length > 1 ? "s" : ""} occurred:\n${problems.map((p) => `\t* ${p}`).join("\n")}\n\n`,
      );
    }
    const existing = this.state.job(ns, job.ID);
    if (body.EnforceIndex) {
      const want = body.JobModifyIndex ?? 0;
      if (want === 0 && existing)
        throw new HttpError(500, "Enforcing job modify index 0: job already exists");
      if (want !== 0 && !existing)
        throw new HttpError(500, `Enforcing job modify index ${want}: job does not exist`);
      if (want !== 0 && existing && existing.job.JobModifyIndex !== want) {
        throw new HttpError(
          500,
          `Enforcing job modify index ${want}: job exists with conflicting job modify index: ${existing.job.JobModifyIndex}`,
        );
      }
    }
    const unchanged = existing && !existing.stopped && specKey(existing.job) === specKey(job);
    const index = this.state.index + 1;
    let stored: StoredJob;
    if (unchanged && existing) {
      stored = existing;
    } else {
      stored = {
        stopped: false,
        job: {
          ...job,
          ID: job.ID,
          Namespace: ns,
          Region: job.Region ?? this.#opts.region,
          Name: job.Name || job.ID,
          Type: job.Type ?? "service",
          Priority: job.Priority ?? 50,
          Datacenters: job.Datacenters?.length ? job.Datacenters : ["*"],
          NodePool: job.NodePool || "default",
          ParentID: job.ParentID ?? "",
          Dispatched: job.Dispatched ?? false,
          TaskGroups: (job.TaskGroups ?? []).map((g) => ({ ...g, Count: g.Count ?? 1 })),
          Stable: false,
          Version: existing ? (existing.job.Version ?? 0) + 1 : 0,
          SubmitTime: Date.now() * NS_PER_MS,
          CreateIndex: existing?.job.CreateIndex ?? index,
          ModifyIndex: index,
          JobModifyIndex: index,
        },
      };
    }
    const ev = newEval(ns, stored.job, "job-register");
    const parameterized = Boolean(stored.job.ParameterizedJob) && !stored.job.Dispatched;
    this.state.putJob(ns, stored);
    const evalIndex = this.#commitEval(
      ev,
      [
        ...(unchanged
          ? []
          : [
              {
                Topic: "Job",
                Type: "JobRegistered",
                Key: stored.job.ID,
                Namespace: ns,
                FilterKeys: null,
                Payload: { Job: stored.job },
              },
            ]),
      ],
      ["jobs", "job_summary"],
    );
    if (!parameterized) this.#schedule(stored, ev);
    this.registerHandlerMs.push(performance.now() - started);
    this.#json(
      res,
      200,
      {
        EvalID: parameterized ? "" : ev.ID,
        EvalCreateIndex: evalIndex,
        JobModifyIndex: stored.job.JobModifyIndex,
        Warnings: "",
        Index: evalIndex,
        LastContact: 0,
        KnownLeader: false,
      },
      evalIndex,
    );
  }

  #commitEval(ev: Evaluation, extra: Array<Omit<NomadEvent, "Index">>, tables: Table[]): number {
    const index = this.state.index + 1;
    ev.CreateIndex = ev.CreateIndex || index;
    ev.ModifyIndex = index;
    this.state.evals.set(ev.ID, ev);
    return this.state.commit(
      [...tables, "evals"],
      [
        ...extra,
        {
          Topic: "Evaluation",
          Type: "EvaluationUpdated",
          Key: ev.ID,
          Namespace: ev.Namespace,
          FilterKeys: [ev.JobID, ""],
          Payload: { Evaluation: ev },
        },
      ],
    );
  }

  /** The scheduler: places each group's missing allocations on a feasible node. */
  #schedule(stored: StoredJob, ev: Evaluation): void {
    if (!this.#opts.autoPlace) return;
    const key = `${stored.job.Namespace}/${stored.job.ID}`;
    const queued: Record<string, number> = {};
    for (const group of stored.job.TaskGroups ?? []) {
      const have = this.state
        .jobAllocs(stored.job.Namespace, stored.job.ID)
        .filter(
          (a) =>
            a.TaskGroup === group.Name && a.ClientStatus !== "lost" && a.DesiredStatus === "run",
        ).length;
      for (let i = have; i < (group.Count ?? 1); i++) {
        if (!this.#place(stored, group, ev)) queued[group.Name] = (queued[group.Name] ?? 0) + 1;
      }
    }
    this.#queued.set(key, queued);
    if (Object.keys(queued).length > 0) {
      ev.Status = "blocked";
      ev.StatusDescription = "created to place remaining allocations";
      this.#commitEval(ev, [], ["job_summary"]);
    }
  }

  #feasible(node: TestNode, job: NomadJob, group: NomadTaskGroup): boolean {
    if (node.Status !== "ready" || node.SchedulingEligibility !== "eligible") return false;
    const dcs = job.Datacenters ?? ["*"];
    if (!dcs.some((dc) => dc === "*" || dc === node.Datacenter)) return false;
    if ((job.NodePool || "default") !== "all" && (job.NodePool || "default") !== node.NodePool)
      return false;
    const constraints = [
      ...(job.Constraints ?? []),
      ...(group.Constraints ?? []),
      ...group.Tasks.flatMap((t) => t.Constraints ?? []),
    ];
    return constraints.every((c) => {
      const l = resolveTarget(c.LTarget ?? "", node);
      const r = resolveTarget(c.RTarget ?? "", node);
      switch (c.Operand) {
        case "=":
        case "==":
        case "is":
          return l === r;
        case "!=":
        case "not":
          return l !== r;
        case "regexp":
          return l !== undefined && r !== undefined && new RegExp(r).test(l);
        case "is_set":
          return l !== undefined;
        case "is_not_set":
          return l === undefined;
        default:
          return true;
      }
    });
  }

  #place(
    stored: StoredJob,
    group: NomadTaskGroup,
    ev: Evaluation,
    previous?: Alloc,
  ): Alloc | undefined {
    const node = this.state.nodes.find((n) => this.#feasible(n, stored.job, group));
    if (!node) return undefined;
    const index = this.state.index + 1;
    const ordinal = previous
      ? Number(/\[(\d+)\]$/.exec(previous.Name)?.[1] ?? 0)
      : this.state
          .jobAllocs(stored.job.Namespace, stored.job.ID)
          .filter((a) => a.TaskGroup === group.Name).length;
    const ports: AllocatedPort[] = [];
    for (const net of group.Networks ?? []) {
      for (const p of net.ReservedPorts ?? [])
        ports.push({ Label: p.Label, Value: p.Value ?? 0, To: p.To ?? 0, HostIP: "127.0.0.1" });
      for (const p of net.DynamicPorts ?? [])
        ports.push({
          Label: p.Label,
          Value: 20000 + Math.floor(Math.random() * 12000),
          To: p.To ?? 0,
          HostIP: "127.0.0.1",
        });
    }
    const now = Date.now() * NS_PER_MS;
    const alloc: Alloc = {
      ID: randomUUID(),
      EvalID: ev.ID,
      Name: `${stored.job.ID}.${group.Name}[${ordinal}]`,
      Namespace: stored.job.Namespace,
      NodeID: node.ID,
      NodeName: node.Name,
      JobID: stored.job.ID,
      JobType: stored.job.Type ?? "service",
      JobVersion: stored.job.Version ?? 0,
      TaskGroup: group.Name,
      DesiredStatus: "run",
      DesiredDescription: "",
      ClientStatus: "pending",
      ClientDescription: "",
      TaskStates: Object.fromEntries(group.Tasks.map((t) => [t.Name, newTaskState()])),
      AllocatedResources: { Shared: { Ports: ports } },
      PreviousAllocation: previous?.ID ?? "",
      NextAllocation: "",
      FollowupEvalID: "",
      CreateIndex: index,
      ModifyIndex: index,
      AllocModifyIndex: index,
      CreateTime: now,
      ModifyTime: now,
    };
    this.state.allocs.set(alloc.ID, alloc);
    const events: Array<Omit<NomadEvent, "Index">> = [this.#allocEvent(alloc, "PlanResult")];
    if (previous) {
      previous.NextAllocation = alloc.ID;
      previous.ModifyIndex = index;
      events.push(this.#allocEvent(previous, "AllocationUpdated"));
    }
    this.state.commit(["allocs", "job_summary", "jobs"], events);
    if (this.#opts.execRawExec) {
      for (const task of group.Tasks) {
        if (task.Driver === "raw_exec")
          this.#runner.start(
            alloc,
            task,
            this.#nomadEnv(alloc, stored.job, group, task, node),
            this.#opts.execEnv,
          );
      }
    }
    return alloc;
  }

  #nomadEnv(
    alloc: Alloc,
    job: NomadJob,
    group: NomadTaskGroup,
    task: NomadTask,
    node: TestNode,
  ): Record<string, string> {
    const env: Record<string, string> = {
      NOMAD_ALLOC_ID: alloc.ID,
      NOMAD_ALLOC_NAME: alloc.Name,
      NOMAD_ALLOC_INDEX: String(/\[(\d+)\]$/.exec(alloc.Name)?.[1] ?? 0),
      NOMAD_JOB_ID: job.ID,
      NOMAD_JOB_NAME: job.Name ?? job.ID,
      NOMAD_GROUP_NAME: group.Name,
      NOMAD_TASK_NAME: task.Name,
      NOMAD_NAMESPACE: alloc.Namespace,
      NOMAD_REGION: job.Region ?? this.#opts.region,
      NOMAD_DC: node.Datacenter,
      NOMAD_NODE_ID: node.ID,
      NOMAD_NODE_NAME: node.Name,
      NOMAD_CPU_LIMIT: String(task.Resources?.CPU ?? 100),
      NOMAD_MEMORY_LIMIT: String(task.Resources?.MemoryMB ?? 300),
    };
    for (const [k, v] of Object.entries({
      ...(job.Meta ?? {}),
      ...(group.Meta ?? {}),
      ...(task.Meta ?? {}),
    })) {
      env[`NOMAD_META_${k.replace(/[^A-Za-z0-9_]/g, "_")}`] = v;
    }
    for (const p of alloc.AllocatedResources?.Shared?.Ports ?? []) {
      env[`NOMAD_PORT_${p.Label}`] = String(p.Value);
      env[`NOMAD_HOST_PORT_${p.Label}`] = String(p.Value);
      env[`NOMAD_IP_${p.Label}`] = p.HostIP;
      env[`NOMAD_ADDR_${p.Label}`] = `${p.HostIP}:${p.Value}`;
    }
    return env;
  }

  async #dispatch(req: Req, res: Res, ns: string, id: string, token: string): Promise<void> {
    const body = ((await readJson(req)) ?? {}) as {
      Payload?: string;
      Meta?: Record<string, string>;
      IdPrefixTemplate?: string;
    };
    const parent = this.#mustJob(ns, id);
    const pj = parent.job.ParameterizedJob;
    if (!pj || parent.job.Dispatched)
      throw new HttpError(400, `Specified job "${id}" is not a parameterized job`);
    if (parent.stopped) throw new HttpError(400, `Specified job "${id}" is stopped`);
    if (token) {
      const seen = this.state.dispatchTokens.get(`${ns}/${id}/${token}`);
      const child = seen ? this.state.job(ns, seen) : undefined;
      if (child) {
        return this.#json(
          res,
          200,
          {
            Index: this.state.index,
            JobCreateIndex: child.job.CreateIndex,
            EvalCreateIndex: 0,
            EvalID: "",
            DispatchedJobID: child.job.ID,
          },
          this.state.index,
        );
      }
    }
    const payload = body.Payload ? Buffer.from(body.Payload, "base64") : Buffer.alloc(0);
    if (payload.length > 16 * 1024)
      throw new HttpError(400, `Payload exceeds maximum size; ${payload.length} > 16384`);
    const mode = pj.Payload ?? "optional";
    if (mode === "required" && payload.length === 0)
      throw new HttpError(400, "Payload is not provided but required by parameterized job");
    if (mode === "forbidden" && payload.length > 0)
      throw new HttpError(400, "Payload provided but forbidden by parameterized job");
    const meta = body.Meta ?? {};
    const missing = (pj.MetaRequired ?? []).filter((k) => !(k in meta));
    if (missing.length)
      throw new HttpError(
        400,
        `Dispatch did not provide required meta keys: [${missing.join(" ")}]`,
      );
    const allowed = new Set([...(pj.MetaRequired ?? []), ...(pj.MetaOptional ?? [])]);
    const extra = Object.keys(meta).filter((k) => !allowed.has(k));
    if (extra.length)
      throw new HttpError(
        400,
        `Dispatch request included unpermitted metadata keys: [${extra.join(" ")}]`,
      );
    const prefix = body.IdPrefixTemplate ? `-${body.IdPrefixTemplate}` : "";
    const childId = `${id}/dispatch-${Math.floor(Date.now() / 1000)}${prefix}-${randomBytes(4).toString("hex")}`;
    const index = this.state.index + 1;
    const child: StoredJob = {
      stopped: false,
      job: {
        ...parent.job,
        ID: childId,
        Name: childId,
        ParentID: id,
        Dispatched: true,
        DispatchIdempotencyToken: token,
        Payload: payload.length ? payload.toString("base64") : null,
        Meta: { ...(parent.job.Meta ?? {}), ...meta },
        Version: 0,
        SubmitTime: Date.now() * NS_PER_MS,
        CreateIndex: index,
        ModifyIndex: index,
        JobModifyIndex: index,
      },
    };
    this.state.putJob(ns, child);
    if (token) this.state.dispatchTokens.set(`${ns}/${id}/${token}`, childId);
    const ev = newEval(ns, child.job, "job-register");
    const evalIndex = this.#commitEval(
      ev,
      [
        {
          Topic: "Job",
          Type: "JobRegistered",
          Key: childId,
          Namespace: ns,
          FilterKeys: null,
          Payload: { Job: child.job },
        },
      ],
      ["jobs", "job_summary"],
    );
    this.#schedule(child, ev);
    this.#json(
      res,
      200,
      {
        Index: evalIndex,
        JobCreateIndex: index,
        EvalCreateIndex: evalIndex,
        EvalID: ev.ID,
        DispatchedJobID: childId,
      },
      evalIndex,
    );
  }

  #deregister(res: Res, ns: string, id: string, purge: boolean): void {
    const stored = this.#mustJob(ns, id);
    for (const a of this.state.jobAllocs(ns, id))
      this.#stop(a, "alloc not needed due to job update");
    const ev = newEval(ns, stored.job, "job-deregister");
    stored.stopped = true;
    stored.job = {
      ...stored.job,
      Stop: true,
      ModifyIndex: this.state.index + 1,
      JobModifyIndex: this.state.index + 1,
    };
    if (purge) {
      this.state.deleteJob(ns, id);
      this.#queued.delete(`${ns}/${id}`);
      for (const a of this.state.jobAllocs(ns, id))
        if (isTerminal(a.ClientStatus)) this.state.allocs.delete(a.ID);
    }
    const index = this.#commitEval(
      ev,
      [
        {
          Topic: "Job",
          Type: "JobDeregistered",
          Key: id,
          Namespace: ns,
          FilterKeys: null,
          Payload: { Job: stored.job },
        },
      ],
      ["jobs", "job_summary", "allocs"],
    );
    this.#json(
      res,
      200,
      { EvalID: ev.ID, EvalCreateIndex: index, JobModifyIndex: stored.job.JobModifyIndex },
      index,
    );
  }

  #stopAlloc(res: Res, id: string): void {
    const a = this.state.allocs.get(id);
    if (!a) throw new HttpError(404, "alloc not found");
    const stored = this.state.job(a.Namespace, a.JobID);
    this.#stop(a, "alloc was stopped by the user");
    const ev = newEval(a.Namespace, stored?.job ?? { ID: a.JobID }, "alloc-stop");
    const index = this.#commitEval(ev, [], ["allocs"]);
    // A stopped allocation of a running job is rescheduled.
    if (stored && !stored.stopped) {
      const group = stored.job.TaskGroups?.find((g) => g.Name === a.TaskGroup);
      if (group) this.#place(stored, group, ev, a);
    }
    this.#json(res, 200, { EvalID: ev.ID, Index: index }, index);
  }

  /** Desired stop: the client kills the tasks and marks the allocation complete. */
  #stop(a: Alloc, why: string): void {
    if (isTerminal(a.ClientStatus)) {
      if (a.DesiredStatus !== "stop")
        this.#updateAlloc(
          a,
          "AllocationUpdateDesiredStatus",
          (x) => ((x.DesiredStatus = "stop"), (x.DesiredDescription = why)),
        );
      return;
    }
    this.#updateAlloc(a, "AllocationUpdateDesiredStatus", (x) => {
      x.DesiredStatus = "stop";
      x.DesiredDescription = why;
    });
    const job = this.state.job(a.Namespace, a.JobID)?.job;
    const group = job?.TaskGroups?.find((g) => g.Name === a.TaskGroup);
    let running = false;
    for (const task of group?.Tasks ?? []) if (this.#runner.kill(a.ID, task)) running = true;
    if (running) return; // #taskExited completes it
    this.#updateAlloc(a, "AllocationUpdated", (x) => {
      x.ClientStatus = "complete";
      x.ClientDescription = "All tasks have completed";
      for (const ts of Object.values(x.TaskStates ?? {})) {
        ts.Events = [
          ...(ts.Events ?? []),
          taskEvent("Killing", { KillReason: why, DisplayMessage: "Sent interrupt" }),
          taskEvent("Killed", { DisplayMessage: "Task successfully killed" }),
        ];
        ts.State = "dead";
        ts.FinishedAt = new Date().toISOString();
      }
    });
    this.logs.finish(a.ID);
  }

  #alloc(id: string): Alloc {
    const a = this.state.allocs.get(id);
    if (!a) throw new Error(`unknown allocation ${id}`);
    return a;
  }

  #allocEvent(a: Alloc, type: string): Omit<NomadEvent, "Index"> {
    return {
      Topic: "Allocation",
      Type: type,
      Key: a.ID,
      Namespace: a.Namespace,
      FilterKeys: [a.JobID, ""],
      Payload: { Allocation: this.#allocStub(a) },
    };
  }

  #allocStub(a: Alloc): Allocation {
    return structuredClone({ ...a, AllocModifyIndex: a.AllocModifyIndex });
  }

  #updateAlloc(a: Alloc, type: string, mutate: (a: Alloc) => void): void {
    mutate(a);
    const index = this.state.index + 1;
    a.ModifyIndex = index;
    a.ModifyTime = Date.now() * NS_PER_MS;
    if (type === "AllocationUpdateDesiredStatus") a.AllocModifyIndex = index;
    const stored = this.state.job(a.Namespace, a.JobID);
    if (stored) stored.job.ModifyIndex = index;
    this.state.commit(["allocs", "job_summary", "jobs"], [this.#allocEvent(a, type)]);
  }

  #taskStarted(allocId: string, task: string): void {
    const a = this.#alloc(allocId);
    this.#updateAlloc(a, "AllocationUpdated", (x) => {
      const ts = x.TaskStates![task] ?? newTaskState();
      x.TaskStates![task] = {
        ...ts,
        State: "running",
        StartedAt: new Date().toISOString(),
        Events: [
          ...(ts.Events ?? []),
          taskEvent("Received", { DisplayMessage: "Task received by client" }),
          taskEvent("Task Setup", {
            Message: "Building Task Directory",
            DisplayMessage: "Building Task Directory",
          }),
          taskEvent("Started", { DisplayMessage: "Task started by client" }),
        ],
      };
      x.ClientStatus = "running";
      x.ClientDescription = "Tasks are running";
    });
  }

  #taskExited(
    allocId: string,
    task: string,
    code: number | null,
    signal: NodeJS.Signals | null,
    killed: boolean,
  ): void {
    const a = this.state.allocs.get(allocId);
    if (!a || isTerminal(a.ClientStatus)) return;
    const failed = !killed && code !== 0;
    this.#updateAlloc(a, "AllocationUpdated", (x) => {
      const ts = x.TaskStates![task] ?? newTaskState();
      const events = [...(ts.Events ?? [])];
      if (killed) events.push(taskEvent("Killed", { DisplayMessage: "Task successfully killed" }));
      else {
        events.push(
          taskEvent("Terminated", {
            ExitCode: code ?? -1,
            Signal: signal ? 9 : 0,
            DisplayMessage: `Exit Code: ${code ?? -1}${signal ? `, Signal: ${signal}` : ""}`,
          }),
        );
        if (failed)
          events.push(
            taskEvent("Not Restarting", {
              FailsTask: true,
              DisplayMessage: "Policy allows no restarts",
            }),
          );
      }
      x.TaskStates![task] = {
        ...ts,
        State: "dead",
        Failed: failed,
        FinishedAt: new Date().toISOString(),
        Events: events,
      };
      const states = Object.values(x.TaskStates!);
      if (states.every((s) => s.State === "dead")) {
        x.ClientStatus = states.some((s) => s.Failed) ? "failed" : "complete";
        x.ClientDescription =
          x.ClientStatus === "failed" ? "Failed tasks" : "All tasks have completed";
      }
    });
    if (isTerminal(a.ClientStatus)) this.logs.finish(allocId);
  }

  // ---- streams -------------------------------------------------------------------------------

  #eventStream(req: Req, res: Res, q: URLSearchParams): void {
    const filters = q.getAll("topic").map((t) => {
      const i = t.indexOf(":");
      return i < 0 ? { topic: t, key: "*" } : { topic: t.slice(0, i), key: t.slice(i + 1) || "*" };
    });
    if (filters.length === 0) filters.push({ topic: "*", key: "*" });
    const ns = q.get("namespace") || "default";
    const match = (e: NomadEvent): boolean =>
      (ns === "*" || e.Namespace === "" || e.Namespace === ns) &&
      filters.some(
        (f) =>
          (f.topic === "*" || f.topic === e.Topic) &&
          (f.key === "*" || f.key === e.Key || (e.FilterKeys ?? []).includes(f.key)),
      );
    res.writeHead(200, {
      "content-type": "application/json",
      "X-Nomad-Index": String(this.state.index),
    });
    this.#streams.add(res);
    let cursor = Number(q.get("index") ?? 0);
    const flush = (): void => {
      for (const item of this.state.eventsFrom(cursor)) {
        cursor = item.Index + 1;
        const events = item.Events.filter(match);
        if (events.length > 0)
          res.write(`${JSON.stringify({ Index: item.Index, Events: events })}\n`);
      }
    };
    flush();
    const onCommit = (): void => flush();
    this.state.on("commit", onCommit);
    const beat = setInterval(() => res.write("{}\n"), this.#opts.heartbeatMs);
    const end = (): void => {
      clearInterval(beat);
      this.state.off("commit", onCommit);
      this.#streams.delete(res);
    };
    res.once("close", end);
    req.once("close", end);
  }

  async #streamLogs(req: Req, res: Res, allocId: string, q: URLSearchParams): Promise<void> {
    const a = this.state.allocs.get(allocId);
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
    const file = this.logs.file(allocId, task, type);
    let pos =
      origin === "end"
        ? Math.max(0, file.data.length - offset)
        : Math.min(offset, file.data.length);
    res.writeHead(200, {
      "content-type": plain ? "text/plain; charset=utf-8" : "application/json",
    });
    let writing = Promise.resolve();
    const write = (text: string | Buffer): void => {
      writing = writing.then(async () => {
        if (res.destroyed) return;
        const chunk = this.#opts.logChunkBytes;
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
      const beat = setInterval(() => !plain && write("{}"), this.#opts.heartbeatMs);
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

  #node(i: number, n: Partial<TestNode>): TestNode {
    return {
      ID: n.ID ?? randomUUID(),
      Name: n.Name ?? `drover-test-node-${i}`,
      Address: "127.0.0.1",
      Datacenter: n.Datacenter ?? "dc1",
      NodeClass: n.NodeClass ?? "linux-64bit",
      NodePool: n.NodePool ?? "default",
      Version: "1.10.0",
      Drain: false,
      SchedulingEligibility: n.SchedulingEligibility ?? "eligible",
      Status: n.Status ?? "ready",
      StatusDescription: "",
      Attributes: {
        "kernel.name": "linux",
        "os.name": "debian",
        "driver.docker": "1",
        "driver.raw_exec": "1",
        ...(n.Attributes ?? {}),
      },
      Meta: n.Meta ?? {},
      HTTPAddr: "",
      CreateIndex: 1,
      ModifyIndex: 1,
    };
  }
}

function resolveTarget(target: string, node: TestNode): string | undefined {
  const m = /^\$\{(.+)\}$/.exec(target);
  if (!m) return target;
  const path = m[1]!;
  if (path.startsWith("attr.")) return node.Attributes[path.slice(5)];
  if (path.startsWith("meta.")) return node.Meta[path.slice(5)];
  if (path === "node.class") return node.NodeClass;
  if (path === "node.datacenter") return node.Datacenter;
  if (path === "node.pool") return node.NodePool;
  if (path === "node.unique.id") return node.ID;
  if (path === "node.unique.name") return node.Name;
  return undefined;
}

/** Nomad's own validation of the fields it requires (job.Validate / Canonicalize). */
function validateJob(job: NomadJob): string[] {
  const p: string[] = [];
  if (!job.ID) p.push("Missing job ID");
  else if (/\s/.test(job.ID)) p.push("Job ID contains a space");
  if (job.Type && !["service", "batch", "system", "sysbatch"].includes(job.Type))
    p.push(`Invalid job type: "${job.Type}"`);
  if (
    job.Priority !== undefined &&
    job.Priority !== null &&
    (job.Priority < 1 || job.Priority > 100)
  )
    p.push("Job priority must be between [1, 100]");
  const groups = job.TaskGroups ?? [];
  if (groups.length === 0) p.push("Missing job task groups");
  const names = new Set<string>();
  for (const [i, g] of groups.entries()) {
    if (!g.Name) p.push(`Job task group ${i + 1} missing name`);
    else if (names.has(g.Name))
      p.push(
        `Job task group ${i + 1} redefines '${g.Name}' from group ${[...names].indexOf(g.Name) + 1}`,
      );
    names.add(g.Name ?? "");
    if (!g.Tasks || g.Tasks.length === 0)
      p.push(`Task group ${g.Name} validation failed: Missing tasks for task group`);
    for (const t of g.Tasks ?? []) {
      if (!t.Name) p.push(`Task group ${g.Name} validation failed: Task missing name`);
      if (!t.Driver)
        p.push(
          `Task group ${g.Name} validation failed: Task ${t.Name} validation failed: Missing task driver`,
        );
      for (const port of (g.Networks ?? []).flatMap((n) => n.ReservedPorts ?? [])) {
        if (!port.Value || port.Value < 1 || port.Value > 65535)
          p.push(
            `Task group ${g.Name} validation failed: Port "${port.Label}" has an invalid port value`,
          );
      }
    }
  }
  return p;
}

/** The part of a job the user submits (server fields excluded), for "unchanged" detection. */
function specKey(job: NomadJob): string {
  const {
    Status: _s,
    StatusDescription: _sd,
    Stable: _st,
    Version: _v,
    SubmitTime: _t,
    CreateIndex: _c,
    ModifyIndex: _m,
    JobModifyIndex: _j,
    Stop: _stop,
    ...spec
  } = job;
  return JSON.stringify({
    ...spec,
    Namespace: undefined,
    Region: undefined,
    Datacenters: undefined,
    NodePool: undefined,
    Name: undefined,
    TaskGroups: (spec.TaskGroups ?? []).map((g) => ({ ...g, Count: g.Count ?? 1 })),
  });
}

/** Go time.Duration strings as Nomad's `wait` accepts: "100ms", "10s", "5m", "1m30s". */
function parseDuration(s: string | null): number | undefined {
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

async function readBody(req: Req): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function readJson(req: Req): Promise<unknown> {
  const text = await readBody(req);
  if (text.trim() === "") return undefined;
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new HttpError(400, `Failed to decode request body: ${(err as Error).message}`);
  }
}

export type { AllocClientStatus };
