import type { NomadClient } from "./client.js";
import type { AgentHealth, QueryOptions, Result } from "./types.js";

/** The /v1/agent endpoints of the agent the client talks to. */
export class Agent {
  constructor(private readonly client: NomadClient) {}

  /** Health reports whether the agent's client and server parts are healthy (500 if not). */
  health(options?: QueryOptions): Promise<Result<AgentHealth>> {
    return this.client.call({ method: "GET", path: "/v1/agent/health", options, idempotent: true });
  }
}
