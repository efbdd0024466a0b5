export { WorkflowEngine, type EngineOptions, type RerunOptions } from "./engine.js";
export {
  TaskService,
  emptySecretsProvider,
  type TaskPrincipal,
  type TaskSecretsProvider,
  type TaskServiceOptions,
} from "./task-service.js";
export * from "./evaluate.js";
