import type { NomadClient } from "./client.js";
import type {
  Allocation,
  AllocationListStub,
  AllocStopResponse,
  QueryOptions,
  Result,
  WriteOptions,
} from "./types.js";

/** The /v1/allocations and /v1/allocation/:id endpoints. */
export class Allocations {
  constructor(private readonly client: NomadClient) {}

  /** List lists allocations, optionally by ID prefix. */
  list(
    opts: { prefix?: string } = {},
    options?: QueryOptions,
  ): Promise<Result<AllocationListStub[]>> {
    return this.client.call({
      method: "GET",
      path: "/v1/allocations",
      query: { prefix: opts.prefix },
      options,
      idempotent: true,
    });
  }

  /** Info reads one allocation. */
  info(id: string, options?: QueryOptions): Promise<Result<Allocation>> {
    return this.client.call({
      method: "GET",
      path: `/v1/allocation/${encodeURIComponent(id)}`,
      options,
      idempotent: true,
    });
  }

  /** Stop stops an allocation (Nomad may reschedule it according to the job's policy). */
  stop(id: string, options?: WriteOptions): Promise<Result<AllocStopResponse>> {
    return this.client.call({
      method: "POST",
      path: `/v1/allocation/${encodeURIComponent(id)}/stop`,
      options,
      // Stopping twice has the same effect as stopping once.
      idempotent: true,
    });
  }
}
