import { DroverError, type DroverErrorOptions, type FieldIssue } from "../errors/index.js";

export type { FieldIssue } from "../errors/index.js";

/** Codes of the control plane's core (model, engine, API); statuses in `ERROR_CODES`. */
export type ControlPlaneErrorCode =
  | "DROVER_ERR_NOT_FOUND"
  | "DROVER_ERR_VALIDATION"
  | "DROVER_ERR_CONFLICT"
  | "DROVER_ERR_UNAUTHENTICATED"
  | "DROVER_ERR_FORBIDDEN"
  | "DROVER_ERR_TASK_TOKEN"
  | "DROVER_ERR_TASK_SESSION"
  | "DROVER_ERR_GIT_FETCH"
  | "DROVER_ERR_CONFIG_MISSING"
  | "DROVER_ERR_WEBHOOK_SIGNATURE"
  | "DROVER_ERR_INVALID_STATE"
  | "DROVER_ERR_OUTPUT_UNAVAILABLE";

/** Error of the control plane's core. */
export class ControlPlaneError extends DroverError<ControlPlaneErrorCode> {
  constructor(code: ControlPlaneErrorCode, message: string, options?: DroverErrorOptions) {
    super(code, message, options);
  }
}

export const notFound = (what: string): ControlPlaneError =>
  new ControlPlaneError("DROVER_ERR_NOT_FOUND", `${what} not found`);
export const invalid = (message: string, fields: FieldIssue[] = []): ControlPlaneError =>
  new ControlPlaneError("DROVER_ERR_VALIDATION", message, { fields });
