/**
 * The config compiler: `.circleci/config.yml` text + pipeline values -> `PipelinePlan`.
 *
 * Stages (one module each): `yaml-source` (parse with positions, anchors, merge keys, limits) ->
 * `orbs` (namespaces: the config's and each orb's commands/executors/jobs) -> `workflows` (job
 * invocations, matrices, requires DAG, filters) -> `jobs` (parameters bound via `params`,
 * executor via `executors`, steps via `steps` with `logic` for when/unless) -> `processed` (the
 * config rendered back as YAML). Every finding goes to `errors.Diagnostics` with a stable code
 * and file:line:col; compilation continues so that all of them are reported.
 */
export { compile, DEFAULT_CONFIG_FILE } from "./compile.js";
export { ConfigErrorCode, formatCompileError } from "./errors.js";
export {
  MAX_CONFIG_BYTES,
  MAX_EXPANDED_NODES,
  MAX_SOURCE_BYTES,
  MAX_YAML_DEPTH,
} from "./yaml-source.js";
export { MAX_LOGIC_DEPTH } from "./logic.js";
export { MAX_PLAN_STEPS } from "./steps.js";
export type * from "./plan.js";
