export {
  DockerExecutor,
  LABEL_TASK,
  LABEL_PID,
  LABEL_HOST,
  LABEL_ROLE,
  METADATA_ADDRESS,
} from "./docker-executor.js";
export {
  parseImageAliases,
  resolveImage,
  normalizeImage,
  ensureImage,
  type ImageAlias,
} from "./images.js";
export { resourcesFor } from "./resources.js";
export { sweepOrphans, type SweepOptions } from "./sweeper.js";
