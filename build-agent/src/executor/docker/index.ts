export {
  DockerExecutor,
  LABEL_TASK,
  LABEL_PID,
  LABEL_HOST,
  LABEL_ROLE,
  METADATA_ADDRESS,
  LINK_LOCAL_V4,
} from "./docker-executor.js";
export {
  JOB_BRIDGE_PREFIX,
  createJobNetwork,
  removeNetwork,
  type JobNetwork,
} from "./job-network.js";
export {
  JobNetRules,
  netRulesUnavailable,
  chainRules,
  runCommand,
  CHAIN_INPUT,
  CHAIN_FORWARD,
  type NetRulesOptions,
  type CommandRunner,
} from "./net-rules.js";
export {
  parseImageAliases,
  resolveImage,
  normalizeImage,
  ensureImage,
  type ImageAlias,
} from "./images.js";
export { resourcesFor } from "./resources.js";
export { sweepOrphans, type SweepOptions } from "./sweeper.js";
