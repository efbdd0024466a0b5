import { randomBytes } from "node:crypto";
import type { TaskGroupSummary } from "../client/types.js";
import { multiErrorText } from "../driver-config/index.js";
import type { NomadJob } from "../jobspec/schema.js";
import type { ClientNode } from "./client-node.js";
import { HttpError, blocking, readJson, sendJson, type Req, type Res, type Route } from "./http.js";
import type { TestScheduler } from "./scheduler.js";
import {
  NS_PER_MS,
  allocStub,
  isTerminal,
  newEval,
  type NomadState,
  type StoredJob,
} from "./state.js";

export interface JobsContext {
  state: NomadState;
  scheduler: TestScheduler;
  client: ClientNode;
  region: string;
  /** Milliseconds spent in handlers of `PUT /v1/jobs`. */
  registerHandlerMs: number[];
}

/** `/v1/jobs` and `/v1/job/:id[/summary|/allocations|/evaluations|/dispatch]`. */
export function jobRoutes(ctx: JobsContext): Route[] {
  const { state } = ctx;
  const mustJob = (ns: string, id: string): StoredJob => {
    const j = state.job(ns, id);
    if (!j) throw new HttpError(404, "job not found");
    return j;
  };
  return [
    {
      methods: ["GET"],
      path: /^\/v1\/jobs$/,
      name: "/v1/jobs",
      handle: (req, res, { query, ns }) =>
        blocking(state, req, res, query, "jobs", () => listJobs(ctx, ns, query)),
    },
    {
      methods: ["PUT", "POST"],
      path: /^\/v1\/jobs$/,
      name: "/v1/jobs",
      handle: (req, res, { ns }) => register(ctx, req, res, ns),
    },
    {
      methods: ["GET"],
      path: /^\/v1\/job\/([^/]+)$/,
      name: "/v1/job/:id",
      handle: (req, res, { params, query, ns }) =>
        blocking(state, req, res, query, "jobs", () => {
          const stored = mustJob(ns, params[0]!);
          return { ...stored.job, Status: jobStatus(ctx, stored), Stop: stored.stopped };
        }),
    },
    {
      methods: ["PUT", "POST"],
      path: /^\/v1\/job\/([^/]+)$/,
      name: "/v1/job/:id",
      handle: (req, res, { ns }) => register(ctx, req, res, ns),
    },
    {
      methods: ["DELETE"],
      path: /^\/v1\/job\/([^/]+)$/,
      name: "/v1/job/:id",
      handle: (_req, res, { params, query, ns }) =>
        deregister(ctx, res, mustJob(ns, params[0]!), query.get("purge") === "true"),
    },
    {
      methods: ["GET"],
      path: /^\/v1\/job\/([^/]+)\/summary$/,
      name: "/v1/job/:id/summary",
      handle: (req, res, { params, query, ns }) =>
        blocking(state, req, res, query, "job_summary", () =>
          summary(ctx, mustJob(ns, params[0]!)),
        ),
    },
    {
      methods: ["GET"],
      path: /^\/v1\/job\/([^/]+)\/allocations$/,
      name: "/v1/job/:id/allocations",
      handle: (req, res, { params, query, ns }) =>
        blocking(state, req, res, query, "allocs", () =>
          state
            .jobAllocs(ns, params[0]!)
            .sort((a, b) => a.CreateIndex - b.CreateIndex)
            .map(allocStub),
        ),
    },
    {
      methods: ["GET"],
      path: /^\/v1\/job\/([^/]+)\/evaluations$/,
      name: "/v1/job/:id/evaluations",
      handle: (req, res, { params, query, ns }) =>
        blocking(state, req, res, query, "evals", () =>
          [...state.evals.values()].filter((e) => e.Namespace === ns && e.JobID === params[0]),
        ),
    },
    {
      methods: ["PUT", "POST"],
      path: /^\/v1\/job\/([^/]+)\/dispatch$/,
      name: "/v1/job/:id/dispatch",
      handle: (req, res, { params, query, ns }) =>
        dispatch(ctx, req, res, ns, mustJob(ns, params[0]!), query.get("idempotency_token") ?? ""),
    },
  ];
}

function listJobs(ctx: JobsContext, ns: string, q: URLSearchParams): unknown[] {
  const prefix = q.get("prefix") ?? "";
  const withMeta = q.get("meta") === "true";
  return [...ctx.state.jobs.values()]
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
      Status: jobStatus(ctx, s),
      StatusDescription: "",
      JobSummary: summary(ctx, s),
      ...(withMeta ? { Meta: s.job.Meta ?? null } : {}),
      CreateIndex: s.job.CreateIndex ?? 0,
      ModifyIndex: s.job.ModifyIndex ?? 0,
      JobModifyIndex: s.job.JobModifyIndex ?? 0,
      SubmitTime: s.job.SubmitTime ?? 0,
    }));
}

function jobStatus(ctx: JobsContext, s: StoredJob): string {
  const allocs = ctx.state.jobAllocs(s.job.Namespace, s.job.ID);
  if (s.job.ParameterizedJob && !s.job.Dispatched) return s.stopped ? "dead" : "running";
  if (allocs.some((a) => !isTerminal(a.ClientStatus) && a.DesiredStatus === "run"))
    return "running";
  const queued = Object.values(
    ctx.scheduler.queued.get(`${s.job.Namespace}/${s.job.ID}`) ?? {},
  ).some((n) => n > 0);
  if (!s.stopped && (queued || allocs.length === 0)) return "pending";
  return "dead";
}

const emptySummary = (): TaskGroupSummary => ({
  Queued: 0,
  Complete: 0,
  Failed: 0,
  Running: 0,
  Starting: 0,
  Lost: 0,
  Unknown: 0,
});

const SUMMARY_KEY = {
  pending: "Starting",
  running: "Running",
  complete: "Complete",
  failed: "Failed",
  lost: "Lost",
  unknown: "Unknown",
} as const;

function summary(ctx: JobsContext, s: StoredJob): unknown {
  const out: Record<string, TaskGroupSummary> = {};
  const queued = ctx.scheduler.queued.get(`${s.job.Namespace}/${s.job.ID}`) ?? {};
  for (const g of s.job.TaskGroups ?? [])
    out[g.Name] = { ...emptySummary(), Queued: queued[g.Name] ?? 0 };
  for (const a of ctx.state.jobAllocs(s.job.Namespace, s.job.ID)) {
    const g = (out[a.TaskGroup] ??= emptySummary());
    const key = SUMMARY_KEY[a.ClientStatus];
    g[key] = (g[key] ?? 0) + 1;
  }
  return {
    JobID: s.job.ID,
    Namespace: s.job.Namespace,
    Summary: out,
    Children: { Pending: 0, Running: 0, Dead: 0 },
    CreateIndex: s.job.CreateIndex ?? 0,
    ModifyIndex: ctx.state.tableIndex.job_summary,
  };
}

async function register(ctx: JobsContext, req: Req, res: Res, queryNs: string): Promise<void> {
  const { state } = ctx;
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
  const decodeError = decodeProblem(job);
  if (decodeError) throw new HttpError(400, decodeError);
  const ns = job.Namespace || queryNs;
  const problems = validateJob(job);
  if (problems.length > 0) throw new HttpError(500, multiErrorText(problems));
  const existing = state.job(ns, job.ID);
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
  const index = state.index + 1;
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
        Region: job.Region ?? ctx.region,
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
  state.putJob(ns, stored);
  const evalIndex = state.commitEval(
    ev,
    unchanged
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
        ],
    ["jobs", "job_summary"],
  );
  if (!parameterized) ctx.scheduler.schedule(stored, ev);
  ctx.registerHandlerMs.push(performance.now() - started);
  sendJson(
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

async function dispatch(
  ctx: JobsContext,
  req: Req,
  res: Res,
  ns: string,
  parent: StoredJob,
  token: string,
): Promise<void> {
  const { state } = ctx;
  const id = parent.job.ID;
  const body = ((await readJson(req)) ?? {}) as {
    Payload?: string;
    Meta?: Record<string, string>;
    IdPrefixTemplate?: string;
  };
  const pj = parent.job.ParameterizedJob;
  if (!pj || parent.job.Dispatched)
    throw new HttpError(400, `Specified job "${id}" is not a parameterized job`);
  if (parent.stopped) throw new HttpError(400, `Specified job "${id}" is stopped`);
  if (token) {
    const seen = state.dispatchTokens.get(`${ns}/${id}/${token}`);
    const child = seen ? state.job(ns, seen) : undefined;
    if (child) {
      return sendJson(
        res,
        200,
        {
          Index: state.index,
          JobCreateIndex: child.job.CreateIndex,
          EvalCreateIndex: 0,
          EvalID: "",
          DispatchedJobID: child.job.ID,
        },
        state.index,
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
    throw new HttpError(400, `Dispatch did not provide required meta keys: [${missing.join(" ")}]`);
  const allowed = new Set([...(pj.MetaRequired ?? []), ...(pj.MetaOptional ?? [])]);
  const extra = Object.keys(meta).filter((k) => !allowed.has(k));
  if (extra.length)
    throw new HttpError(
      400,
      `Dispatch request included unpermitted metadata keys: [${extra.join(" ")}]`,
    );
  const prefix = body.IdPrefixTemplate ? `-${body.IdPrefixTemplate}` : "";
  const childId = `${id}/dispatch-${Math.floor(Date.now() / 1000)}${prefix}-${randomBytes(4).toString("hex")}`;
  const index = state.index + 1;
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
  state.putJob(ns, child);
  if (token) state.dispatchTokens.set(`${ns}/${id}/${token}`, childId);
  const ev = newEval(ns, child.job, "job-register");
  const evalIndex = state.commitEval(
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
  ctx.scheduler.schedule(child, ev);
  sendJson(
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

function deregister(ctx: JobsContext, res: Res, stored: StoredJob, purge: boolean): void {
  const { state } = ctx;
  const ns = stored.job.Namespace;
  const id = stored.job.ID;
  for (const a of state.jobAllocs(ns, id)) ctx.client.stop(a, "alloc not needed due to job update");
  const ev = newEval(ns, stored.job, "job-deregister");
  stored.stopped = true;
  stored.job = {
    ...stored.job,
    Stop: true,
    ModifyIndex: state.index + 1,
    JobModifyIndex: state.index + 1,
  };
  if (purge) {
    state.deleteJob(ns, id);
    ctx.scheduler.queued.delete(`${ns}/${id}`);
    for (const a of state.jobAllocs(ns, id))
      if (isTerminal(a.ClientStatus)) state.allocs.delete(a.ID);
  }
  const index = state.commitEval(
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
  sendJson(
    res,
    200,
    { EvalID: ev.ID, EvalCreateIndex: index, JobModifyIndex: stored.job.JobModifyIndex },
    index,
  );
}

/**
 * Where the agent's JSON decoding into api.JobRegisterRequest fails (command/agent/http.go
 * decodeBody; Go's encoding/json error text): a task `Config` that is not an object.
 */
function decodeProblem(job: NomadJob): string | undefined {
  for (const g of job.TaskGroups ?? []) {
    for (const t of g.Tasks ?? []) {
      const c: unknown = t.Config;
      if (c === null || c === undefined || (typeof c === "object" && !Array.isArray(c))) continue;
      const kind = Array.isArray(c) ? "array" : typeof c === "boolean" ? "bool" : typeof c;
      return `json: cannot unmarshal ${kind} into Go struct field Task.Job.TaskGroups.Tasks.Config of type map[string]interface {}`;
    }
  }
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
