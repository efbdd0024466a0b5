export const WORKSPACE = "output-processor";
export * from "./masking/index.js";
export { OutputError, type OutputErrorCode } from "./errors.js";
export { createOutputProcessor, type OutputProcessor, type OutputProcessorDeps } from "./server.js";
export {
  DEFAULT_CHANNEL_PREFIX,
  outputConfigSchema,
  parseOutputConfig,
  outputConfigFromEnv,
  type OutputConfig,
  type OutputConfigInput,
} from "./config.js";
export {
  HmacTaskTokenVerifier,
  signOutputToken,
  verifyOutputToken,
  type OutputTokenClaims,
  type TaskGrant,
  type TaskTokenVerifier,
} from "./auth/token.js";
export { signChannelAuth, verifyChannelAuth } from "./pusher/auth.js";
export {
  PUSHER_CLOSE,
  PUSHER_PROTOCOL_VERSION,
  JOB_CHANNEL_PREFIX,
  PROJECT_CHANNEL_PREFIX,
} from "./pusher/protocol.js";
export { PusherServer, type PusherDeps, type PusherServerOptions } from "./pusher/server.js";
export { IngestServer, type IngestDeps } from "./ingest/server.js";
export type { ReadAuthorizer } from "./http/log-routes.js";
export * from "./protocol/index.js";
export * from "./store/index.js";
export { ObjectLogStore, type ObjectLogStoreOptions } from "./store/object-store.js";
export * from "./pubsub/index.js";
export * from "./fanout/messages.js";
export * from "./fanout/project-events.js";
