/** Stable error codes of the control plane's core (model, engine, API). Never reused. */
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

/** One offending input field: a dotted path and what was wrong with it. */
export interface FieldIssue {
  field: string;
  message: string;
}

/** Base error of the control plane's core; the API maps `code` to an HTTP status. */
export class ControlPlaneError extends Error {
  constructor(
    readonly code: ControlPlaneErrorCode,
    message: string,
    options?: { cause?: unknown; fields?: FieldIssue[] },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = "ControlPlaneError";
    this.fields = options?.fields ?? [];
  }
  readonly fields: FieldIssue[];
}

export const notFound = (what: string): ControlPlaneError =>
  new ControlPlaneError("DROVER_ERR_NOT_FOUND", `${what} not found`);
export const invalid = (message: string, fields: FieldIssue[] = []): ControlPlaneError =>
  new ControlPlaneError("DROVER_ERR_VALIDATION", message, { fields });
