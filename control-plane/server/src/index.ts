export * from "./scheduler/index.js";
export * from "./secrets/index.js";
export * from "./audit/index.js";
export * from "./scheduler/local/index.js";
export * from "./engine/index.js";
export * from "./model/index.js";
export * from "./auth/index.js";
export * from "./errors/index.js";
export * from "./config/index.js";
export * from "./schedules/index.js";
export * from "./webhooks/index.js";
export {
  createApiServer,
  parse,
  requestToken,
  type ApiServerDeps,
  type RequestAuthenticator,
  type RouteAuth,
} from "./api/server.js";
export type { CoreRouteDeps } from "./api/routes/deps.js";
export {
  TriggerService,
  type CompileFn,
  type TriggerRequest,
  type TriggerType,
} from "./pipelines/trigger.js";
export { API_BODY_LIMIT } from "./pipelines/limits.js";
export { CompilePool, type CompilePoolOptions } from "./pipelines/compile-pool.js";
export { GitConfigFetcher } from "./git/fetch.js";
export {
  startControlPlane,
  type ComposeOptions,
  type ControlPlane,
  type ControlPlaneDeps,
  type RouteModule,
  type OutputInfo,
} from "./server/compose.js";
export {
  ROOT_LOG_REDACT_PATHS,
  startDrover,
  type Drover,
  type DroverOptions,
} from "./server/drover.js";
export { startRunner, type RunnerOptions, type RunnerService } from "./server/runner.js";
export * from "./contexts/index.js";
export * from "./users/index.js";
export * from "./machines/index.js";
export * from "./artifacts/index.js";
export * from "./network/index.js";
