import type { NomadClient } from "./client.js";
import type { NodeListStub, QueryOptions, Result } from "./types.js";

/** The /v1/nodes endpoints. */
export class Nodes {
  constructor(private readonly client: NomadClient) {}

  /** List lists client nodes, optionally by ID prefix. */
  list(opts: { prefix?: string } = {}, options?: QueryOptions): Promise<Result<NodeListStub[]>> {
    return this.client.call({
      method: "GET",
      path: "/v1/nodes",
      query: { prefix: opts.prefix },
      options,
      idempotent: true,
    });
  }
}
