export {
  NomadClient,
  readMeta,
  type CallObserver,
  type CallRequest,
  type StreamResponse,
} from "./client.js";
export { Jobs } from "./jobs.js";
export { Allocations } from "./allocations.js";
export { Nodes } from "./nodes.js";
export { Agent } from "./agent.js";
export { EventStream, EventSubscription, type EventStreamOptions } from "./event-stream.js";
export { Logs, type LogFrame, type LogOptions } from "./logs.js";
export { NdjsonDecoder, JsonObjectStreamDecoder } from "./decode.js";
export { nomadRetry, type RetryPolicy } from "./retry.js";
export type * from "./types.js";
