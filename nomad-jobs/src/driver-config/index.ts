import { decodeConfig, type ConfigProblem } from "./decode.js";
import { driverTaskConfigs } from "./specs.js";

export {
  decodeConfig,
  multiErrorText,
  problemText,
  validationErrorText,
  type ConfigProblem,
} from "./decode.js";
export {
  dockerTaskConfig,
  driverTaskConfigs,
  execTaskConfig,
  rawExecTaskConfig,
  type BodySpec,
  type FieldSpec,
  type HclType,
} from "./specs.js";

/** Problems of a task's `Config` for its driver; undefined for a driver without a known spec. */
export function driverConfigProblems(driver: string, config: unknown): ConfigProblem[] | undefined {
  const spec = driverTaskConfigs[driver];
  return spec ? decodeConfig(spec, config) : undefined;
}
