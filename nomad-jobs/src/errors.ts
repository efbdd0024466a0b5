/** Stable error codes of the nomad-jobs package. Codes are never reused. */
export const NomadErrorCode = {
  /** Nomad answered 400: the request (often a job spec) was invalid. */
  BadRequest: "DROVER_ERR_NOMAD_BAD_REQUEST",
  /** Nomad answered 403: missing, unknown or insufficient ACL token. */
  PermissionDenied: "DROVER_ERR_NOMAD_PERMISSION_DENIED",
  /** Nomad answered 404. */
  NotFound: "DROVER_ERR_NOMAD_NOT_FOUND",
  /** Nomad answered 429: per-client connection limit reached, after our retries. */
  RateLimited: "DROVER_ERR_NOMAD_RATE_LIMITED",
  /** Nomad answered 5xx (after retries, for idempotent calls). */
  ServerError: "DROVER_ERR_NOMAD_SERVER_ERROR",
  /** Any other unexpected status. */
  UnexpectedResponse: "DROVER_ERR_NOMAD_UNEXPECTED_RESPONSE",
  /** No connection could be made (refused, reset, DNS, TLS handshake). */
  Unreachable: "DROVER_ERR_NOMAD_UNREACHABLE",
  /** Nomad did not answer in time. */
  Timeout: "DROVER_ERR_NOMAD_TIMEOUT",
  /** The response body could not be decoded (JSON, NDJSON or log frames). */
  Decode: "DROVER_ERR_NOMAD_DECODE",
  /** The client configuration is invalid. */
  Config: "DROVER_ERR_NOMAD_CONFIG",
  /** A job spec could not be built from the task input. */
  JobSpec: "DROVER_ERR_NOMAD_JOBSPEC",
  /** A built job spec does not match Nomad's API structs. */
  JobSpecInvalid: "DROVER_ERR_NOMAD_JOBSPEC_INVALID",
} as const;
export type NomadErrorCode = (typeof NomadErrorCode)[keyof typeof NomadErrorCode];

export interface NomadErrorDetails {
  status?: number;
  /** Nomad's text/plain error body. */
  body?: string;
  method?: string;
  path?: string;
  cause?: unknown;
}

/** Base error of the package: infrastructure (Nomad) failures, never a user's job failure. */
export class NomadError extends Error {
  readonly code: NomadErrorCode;
  readonly status: number | undefined;
  readonly body: string | undefined;
  readonly method: string | undefined;
  readonly path: string | undefined;

  constructor(code: NomadErrorCode, message: string, details: NomadErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = "NomadError";
    this.code = code;
    this.status = details.status;
    this.body = details.body;
    this.method = details.method;
    this.path = details.path;
  }

  /** True when the failure is about reaching Nomad at all (retrying later may help). */
  get transient(): boolean {
    return (
      this.code === NomadErrorCode.Unreachable ||
      this.code === NomadErrorCode.Timeout ||
      this.code === NomadErrorCode.ServerError ||
      this.code === NomadErrorCode.RateLimited
    );
  }
}

/** Maps an HTTP status to its error code. */
export function codeForStatus(status: number): NomadErrorCode {
  if (status === 400) return NomadErrorCode.BadRequest;
  if (status === 403 || status === 401) return NomadErrorCode.PermissionDenied;
  if (status === 404) return NomadErrorCode.NotFound;
  if (status === 429) return NomadErrorCode.RateLimited;
  if (status >= 500) return NomadErrorCode.ServerError;
  return NomadErrorCode.UnexpectedResponse;
}
