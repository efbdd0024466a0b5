export {
  AGENT_GROUP,
  AGENT_TASK,
  META_TASK_ID,
  assertValidJob,
  buildTaskJob,
  jobIdFor,
  resourcesFor,
  sanitizeIdPart,
  sshPortFor,
  taskSpecInputSchema,
} from "./build.js";
export {
  jobSpecConfigFromEnv,
  jobSpecConfigSchema,
  type JobSpecConfig,
  type JobSpecConfigInput,
} from "./config.js";
export {
  MACHINE_AGENT_SHAPE,
  dockerResourceClasses,
  type ResourceShape,
} from "./resource-classes.js";
export {
  jobProblems,
  jobRegisterRequestSchema,
  jobSchema,
  taskGroupSchema,
  taskSchema,
  type NomadJob,
  type NomadJobRegisterRequest,
  type NomadTask,
  type NomadTaskGroup,
} from "./schema.js";
export type { TaskSpecInput } from "./types.js";
