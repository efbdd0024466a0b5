import { DroverError, type DroverErrorOptions } from "../errors/index.js";

/** Codes of users, sessions and API tokens (statuses and meanings in `errors/codes.ts`). */
export type UsersErrorCode =
  | "DROVER_ERR_USERS_INVALID"
  | "DROVER_ERR_USERS_CONFLICT"
  | "DROVER_ERR_USERS_FORBIDDEN"
  | "DROVER_ERR_USERS_TOKEN_EXPIRED"
  | "DROVER_ERR_USERS_ORIGIN"
  | "DROVER_ERR_USERS_RATE_LIMITED";

/** Error of users and sessions. */
export class UsersError extends DroverError<UsersErrorCode> {
  /** Seconds until a rate-limited login may be tried again. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    code: UsersErrorCode,
    message: string,
    /** `Retry-After` seconds of a rate-limited login, or the base error's options. */
    options?: number | DroverErrorOptions,
  ) {
    super(code, message, typeof options === "number" ? {} : (options ?? {}));
    this.retryAfterSeconds = typeof options === "number" ? options : undefined;
  }
}
