export type ContextsErrorCode =
  /** A name, value or body field is invalid (400). */
  | "DROVER_ERR_CONTEXTS_INVALID"
  /** Project, context, variable, group or restriction unknown or invisible to the caller (404). */
  | "DROVER_ERR_CONTEXTS_NOT_FOUND"
  /** The caller may not do this (403). */
  | "DROVER_ERR_CONTEXTS_FORBIDDEN"
  /** A context or group of that name exists already (409). */
  | "DROVER_ERR_CONTEXTS_CONFLICT"
  /** A job's user or project may not use a context it names: the job ends `unauthorized`. */
  | "DROVER_ERR_CONTEXT_UNAUTHORIZED";

const STATUS: Record<ContextsErrorCode, number> = {
  DROVER_ERR_CONTEXTS_INVALID: 400,
  DROVER_ERR_CONTEXTS_NOT_FOUND: 404,
  DROVER_ERR_CONTEXTS_FORBIDDEN: 403,
  DROVER_ERR_CONTEXTS_CONFLICT: 409,
  DROVER_ERR_CONTEXT_UNAUTHORIZED: 403,
};

/** Base error of env vars and contexts; `statusCode` is what the API answers. */
export class ContextsError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: ContextsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "ContextsError";
    this.statusCode = STATUS[code];
  }
}

export const notFound = (what: string): ContextsError =>
  new ContextsError("DROVER_ERR_CONTEXTS_NOT_FOUND", `${what} not found`);
export const forbidden = (message: string): ContextsError =>
  new ContextsError("DROVER_ERR_CONTEXTS_FORBIDDEN", message);
export const invalid = (message: string): ContextsError =>
  new ContextsError("DROVER_ERR_CONTEXTS_INVALID", message);
