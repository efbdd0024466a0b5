/** Compiler error codes and the collector every compilation stage reports into. */
import type { CompileError } from "./plan.js";
import type { Pos } from "./yaml-source.js";

/** Stable codes: never renamed, never reused. */
export const ConfigErrorCode = {
  /** The file could not be read (CLI). */
  READ: "DROVER_ERR_CONFIG_READ",
  /** The source exceeds `MAX_CONFIG_BYTES` (5 MiB; the API's body limit derives from it). */
  TOO_LARGE: "DROVER_ERR_CONFIG_TOO_LARGE",
  YAML_SYNTAX: "DROVER_ERR_CONFIG_YAML_SYNTAX",
  /** Aliases expand past the node budget (billion laughs). */
  ALIAS_LIMIT: "DROVER_ERR_CONFIG_ALIAS_LIMIT",
  /** `version` missing or not 2, 2.0, 2.1; or a 2.1 feature in a 2.0 config. */
  VERSION: "DROVER_ERR_CONFIG_VERSION",
  UNKNOWN_KEY: "DROVER_ERR_CONFIG_UNKNOWN_KEY",
  UNKNOWN_STEP: "DROVER_ERR_CONFIG_UNKNOWN_STEP",
  /** A value of the wrong shape (a map where a list belongs, a bad duration...). */
  INVALID_VALUE: "DROVER_ERR_CONFIG_INVALID_VALUE",
  MISSING_KEY: "DROVER_ERR_CONFIG_MISSING_KEY",
  UNDEFINED_COMMAND: "DROVER_ERR_CONFIG_UNDEFINED_COMMAND",
  UNDEFINED_EXECUTOR: "DROVER_ERR_CONFIG_UNDEFINED_EXECUTOR",
  UNDEFINED_JOB: "DROVER_ERR_CONFIG_UNDEFINED_JOB",
  /** `<< parameters.x >>`, `<< pipeline.x >>` or `<< matrix.x >>` naming nothing. */
  UNDEFINED_PARAMETER: "DROVER_ERR_CONFIG_UNDEFINED_PARAMETER",
  /** An argument passed to a job, command or executor that declares no such parameter. */
  UNKNOWN_ARGUMENT: "DROVER_ERR_CONFIG_UNKNOWN_ARGUMENT",
  PARAM_TYPE: "DROVER_ERR_CONFIG_PARAM_TYPE",
  PARAM_REQUIRED: "DROVER_ERR_CONFIG_PARAM_REQUIRED",
  /** A trigger parameter the config does not declare, or of the wrong type. */
  PIPELINE_PARAM: "DROVER_ERR_CONFIG_PIPELINE_PARAM",
  UNKNOWN_REQUIRES: "DROVER_ERR_CONFIG_UNKNOWN_REQUIRES",
  CYCLE: "DROVER_ERR_CONFIG_CYCLE",
  DUPLICATE_NAME: "DROVER_ERR_CONFIG_DUPLICATE_NAME",
  INVALID_REGEX: "DROVER_ERR_CONFIG_INVALID_REGEX",
  LOGIC_DEPTH: "DROVER_ERR_CONFIG_LOGIC_DEPTH",
  /** A command that (indirectly) invokes itself, or expansion nested too deep. */
  RECURSION: "DROVER_ERR_CONFIG_RECURSION",
  NO_EXECUTOR: "DROVER_ERR_CONFIG_NO_EXECUTOR",
  NO_WORKFLOWS: "DROVER_ERR_CONFIG_NO_WORKFLOWS",
  ORB_UNRESOLVED: "DROVER_ERR_CONFIG_ORB_UNRESOLVED",
  INVALID_ORB: "DROVER_ERR_CONFIG_INVALID_ORB",
  /** Maps and lists nested past `MAX_YAML_DEPTH`, or (last resort) the stack ran out. */
  TOO_DEEP: "DROVER_ERR_CONFIG_TOO_DEEP",
  /** Compiling took longer than the control plane allows (its compile pool's time limit). */
  COMPILE_TIMEOUT: "DROVER_ERR_CONFIG_COMPILE_TIMEOUT",
  /** Compiling needed more memory than the control plane allows (its compile pool's heap limit). */
  COMPILE_MEMORY: "DROVER_ERR_CONFIG_COMPILE_MEMORY",
  /** Warning: an option a built-in step does not know (CircleCI ignores it; so does Drover). */
  WARN_UNKNOWN_STEP_OPTION: "DROVER_WARN_CONFIG_UNKNOWN_STEP_OPTION",
  /** Warning: a step written with its arguments beside its name instead of under it. */
  WARN_FLATTENED_STEP: "DROVER_WARN_CONFIG_FLATTENED_STEP",
  /** Warning: a built-in step under its CircleCI 2.0 hyphenated name (`restore-cache`). */
  WARN_LEGACY_STEP_NAME: "DROVER_WARN_CONFIG_LEGACY_STEP_NAME",
} as const;

export type ConfigErrorCode = (typeof ConfigErrorCode)[keyof typeof ConfigErrorCode];

/** Collects every finding of one compilation; stages keep going after an error. */
export class Diagnostics {
  readonly errors: CompileError[] = [];
  readonly warnings: CompileError[] = [];
  private readonly seen = new Set<string>();

  constructor(private readonly defaultFile: string) {}

  /** Records a non-fatal finding. */
  warn(code: ConfigErrorCode, message: string, at?: Pos): void {
    this.push(this.warnings, code, message, at);
  }

  add(code: ConfigErrorCode, message: string, at?: Pos): void {
    this.push(this.errors, code, message, at);
  }

  private push(list: CompileError[], code: ConfigErrorCode, message: string, at?: Pos): void {
    const where = at ? at.src.position(at.offset) : undefined;
    const err: CompileError = {
      code,
      message,
      file: at ? at.src.file : this.defaultFile,
      line: where?.line ?? 0,
      col: where?.col ?? 0,
    };
    // Shared (aliased) nodes are visited once per use: report each finding once.
    const key = `${err.code}\0${err.file}\0${err.line}\0${err.col}\0${err.message}`;
    if (this.seen.has(key)) return;
    this.seen.add(key);
    list.push(err);
  }

  get count(): number {
    return this.errors.length;
  }
}

/** `file:line:col CODE message`, the CLI's one-line form. */
export function formatCompileError(e: CompileError): string {
  return `${e.file}:${e.line}:${e.col} ${e.code} ${e.message}`;
}
