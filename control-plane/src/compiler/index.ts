export { compile, DEFAULT_CONFIG_FILE } from "./compile.js";
export { ConfigErrorCode, formatCompileError } from "./errors.js";
export { MAX_EXPANDED_NODES, MAX_SOURCE_BYTES } from "./yaml-source.js";
export { MAX_LOGIC_DEPTH } from "./logic.js";
export type * from "./plan.js";
