import type { NomadJob } from "../jobspec/schema.js";
import type { NomadClient } from "./client.js";
import type {
  AllocationListStub,
  Evaluation,
  JobDeregisterResponse,
  JobDispatchResponse,
  JobListStub,
  JobRegisterResponse,
  JobSummary,
  QueryOptions,
  Result,
  WriteOptions,
} from "./types.js";

const jobPath = (id: string, sub = ""): string => `/v1/job/${encodeURIComponent(id)}${sub}`;

/** The /v1/jobs and /v1/job/:id endpoints. */
export class Jobs {
  constructor(private readonly client: NomadClient) {}

  /**
   * Register is used to register (create or update) a job. With `enforceIndex`, the job is
   * registered only if its current JobModifyIndex equals `jobModifyIndex` (0: only if new).
   */
  register(
    job: NomadJob,
    opts: { enforceIndex?: boolean; jobModifyIndex?: number } = {},
    options?: WriteOptions,
  ): Promise<Result<JobRegisterResponse>> {
    const body: Record<string, unknown> = { Job: job };
    if (opts.enforceIndex) {
      body.EnforceIndex = true;
      body.JobModifyIndex = opts.jobModifyIndex ?? 0;
    }
    return this.client.call({ method: "PUT", path: "/v1/jobs", body, options, idempotent: false });
  }

  /** Info reads a job's specification and status. */
  info(id: string, options?: QueryOptions): Promise<Result<NomadJob>> {
    return this.client.call({ method: "GET", path: jobPath(id), options, idempotent: true });
  }

  /** List lists jobs, optionally by ID prefix and with their Meta. */
  list(
    opts: { prefix?: string; meta?: boolean; filter?: string } = {},
    options?: QueryOptions,
  ): Promise<Result<JobListStub[]>> {
    return this.client.call({
      method: "GET",
      path: "/v1/jobs",
      query: { prefix: opts.prefix, meta: opts.meta ? true : undefined, filter: opts.filter },
      options,
      idempotent: true,
    });
  }

  /** Summary reads a job's allocation counts per task group. */
  summary(id: string, options?: QueryOptions): Promise<Result<JobSummary>> {
    return this.client.call({
      method: "GET",
      path: jobPath(id, "/summary"),
      options,
      idempotent: true,
    });
  }

  /** Allocations lists a job's allocations (`all`: include those of earlier jobs with this ID). */
  allocations(
    id: string,
    opts: { all?: boolean } = {},
    options?: QueryOptions,
  ): Promise<Result<AllocationListStub[]>> {
    return this.client.call({
      method: "GET",
      path: jobPath(id, "/allocations"),
      query: { all: opts.all ? true : undefined },
      options,
      idempotent: true,
    });
  }

  /** Evaluations lists a job's evaluations. */
  evaluations(id: string, options?: QueryOptions): Promise<Result<Evaluation[]>> {
    return this.client.call({
      method: "GET",
      path: jobPath(id, "/evaluations"),
      options,
      idempotent: true,
    });
  }

  /** Deregister stops a job; `purge` also removes it from Nomad's state at once. */
  deregister(
    id: string,
    opts: { purge?: boolean } = {},
    options?: WriteOptions,
  ): Promise<Result<JobDeregisterResponse>> {
    return this.client.call({
      method: "DELETE",
      path: jobPath(id),
      query: { purge: opts.purge ? true : undefined },
      options,
      idempotent: true,
    });
  }

  /**
   * Dispatch starts an instance of a parameterized job. The payload is sent base64-encoded;
   * `options.idempotencyToken` makes a repeated dispatch return the first instance.
   */
  dispatch(
    id: string,
    opts: {
      payload?: Uint8Array | string;
      meta?: Record<string, string>;
      idPrefixTemplate?: string;
    } = {},
    options?: WriteOptions,
  ): Promise<Result<JobDispatchResponse>> {
    const body: Record<string, unknown> = { JobID: id };
    if (opts.payload !== undefined) body.Payload = Buffer.from(opts.payload).toString("base64");
    if (opts.meta) body.Meta = opts.meta;
    if (opts.idPrefixTemplate) body.IdPrefixTemplate = opts.idPrefixTemplate;
    return this.client.call({
      method: "POST",
      path: jobPath(id, "/dispatch"),
      body,
      options,
      idempotent: options?.idempotencyToken !== undefined,
    });
  }
}
