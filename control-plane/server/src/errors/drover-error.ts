import { faultOf, statusOf, type ErrorCode, type Fault } from "./codes.js";

/** One offending input field: a dotted path (or a variable name) and what was wrong with it. */
export interface FieldIssue {
  field: string;
  message: string;
}

export interface DroverErrorOptions {
  cause?: unknown;
  /** The offending fields of a 400 (the API answers them as `errors`). */
  fields?: FieldIssue[];
}

/**
 * Base error of the control plane: a stable `code` from `ERROR_CODES`, the HTTP status the API
 * answers with, and `cause` chained. Each area narrows `C` to its own codes (`ContextsError`,
 * `SecretsError`, ...); the API's error handler answers every one with its code.
 */
export class DroverError<C extends ErrorCode = ErrorCode> extends Error {
  readonly code: C;
  /** The HTTP status of `code`. */
  readonly statusCode: number;
  readonly fields: FieldIssue[];

  constructor(code: C, message: string, options: DroverErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.statusCode = statusOf(code);
    this.fields = options.fields ?? [];
  }

  /** `infrastructure` for 5xx codes (ours to fix), `user` for 4xx (the caller's input or job). */
  get fault(): Fault {
    return faultOf(this.code);
  }
}
