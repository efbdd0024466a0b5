export { WorkflowEngine, type EngineOptions } from "./engine.js";
export { checkRerunOptions, planRerun, type RerunOptions, type RerunPlan } from "./rerun.js";
export { planAdvance, type AdvancePlan, type WorkflowForRules } from "./advance.js";
export type { WorkflowChangeListener } from "./changes.js";
export { taskPlan, SUBMIT_BATCH } from "./dispatch.js";
export type { JobForRules } from "./store/jobs.js";
export type { LeasedTask, NewTask } from "./store/tasks.js";
export type { TaskResult } from "./results.js";
export {
  SSH_RERUNS_OFF,
  SSH_RERUNS_SETTING,
  TaskService,
  sshRerunsDisabled,
  type TaskOutcomes,
  type TaskPrincipal,
  type TaskServiceOptions,
} from "./task-service.js";
export {
  emptySecretsProvider,
  type TaskAccessResult,
  type TaskSecrets,
  type TaskSecretsInput,
  type TaskSecretsProvider,
} from "./secrets-provider.js";
export * from "./evaluate.js";
