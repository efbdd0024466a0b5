/** Stable codes of users, sessions and API tokens, with their HTTP status. Never reused. */
const STATUS = {
  DROVER_ERR_USERS_INVALID: 400,
  DROVER_ERR_USERS_CONFLICT: 409,
  DROVER_ERR_USERS_FORBIDDEN: 403,
  /** An API token past its `expires_at`. */
  DROVER_ERR_USERS_TOKEN_EXPIRED: 401,
  /** A cookie-authenticated write whose `Origin` is missing or not this server's. */
  DROVER_ERR_USERS_ORIGIN: 403,
  /** Too many failed logins for the user or from the address; see `Retry-After`. */
  DROVER_ERR_USERS_RATE_LIMITED: 429,
} as const;

export type UsersErrorCode = keyof typeof STATUS;

/** Base error of users and sessions. */
export class UsersError extends Error {
  readonly statusCode: number;
  constructor(
    readonly code: UsersErrorCode,
    message: string,
    /** Seconds until a rate-limited login may be tried again. */
    readonly retryAfterSeconds?: number,
  ) {
    super(message);
    this.name = "UsersError";
    this.statusCode = STATUS[code];
  }
}
