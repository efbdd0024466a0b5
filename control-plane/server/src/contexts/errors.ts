import { DroverError } from "../errors/index.js";

/** Codes of env vars and contexts; statuses and meanings in `ERROR_CODES`. */
export type ContextsErrorCode =
  | "DROVER_ERR_CONTEXTS_INVALID"
  | "DROVER_ERR_CONTEXTS_NOT_FOUND"
  | "DROVER_ERR_CONTEXTS_FORBIDDEN"
  | "DROVER_ERR_CONTEXTS_CONFLICT"
  | "DROVER_ERR_CONTEXT_UNAUTHORIZED";

/** Error of env vars and contexts. */
export class ContextsError extends DroverError<ContextsErrorCode> {
  constructor(code: ContextsErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

export const notFound = (what: string): ContextsError =>
  new ContextsError("DROVER_ERR_CONTEXTS_NOT_FOUND", `${what} not found`);
export const forbidden = (message: string): ContextsError =>
  new ContextsError("DROVER_ERR_CONTEXTS_FORBIDDEN", message);
export const invalid = (message: string): ContextsError =>
  new ContextsError("DROVER_ERR_CONTEXTS_INVALID", message);
