/**
 * Every error code of the control plane, once: its HTTP status and what it means. Codes are
 * stable API: never rename, reuse or remove one (retire it by leaving it here unused).
 * A 4xx is the caller's input or job; a 5xx is our infrastructure (`faultOf`).
 */
// prettier-ignore
export const ERROR_CODES = {
  // The API and the core model.
  DROVER_ERR_VALIDATION: { status: 400, meaning: "A request field is invalid; `errors` lists each field." },
  DROVER_ERR_REQUEST: { status: 400, meaning: "The HTTP request could not be read (URL, headers, framing)." },
  DROVER_ERR_BODY_TOO_LARGE: { status: 413, meaning: "The request body is larger than the server accepts." },
  DROVER_ERR_URL_TOO_LONG: { status: 414, meaning: "A path parameter of the request URL is too long." },
  DROVER_ERR_MEDIA_TYPE: { status: 415, meaning: "The request's content type is not one the route accepts." },
  DROVER_ERR_UNAUTHENTICATED: { status: 401, meaning: "No valid API token or session came with the request." },
  DROVER_ERR_FORBIDDEN: { status: 403, meaning: "The caller may not do this (most often: admins only)." },
  DROVER_ERR_NOT_FOUND: { status: 404, meaning: "The resource does not exist or the caller may not see it." },
  DROVER_ERR_CONFLICT: { status: 409, meaning: "The resource exists already, or the running setup has none of its kind." },
  DROVER_ERR_INVALID_STATE: { status: 409, meaning: "The action does not fit the resource's current state." },
  DROVER_ERR_CONFIG_MISSING: { status: 400, meaning: "The revision has no `.circleci/config.yml`." },
  DROVER_ERR_WEBHOOK_SIGNATURE: { status: 401, meaning: "A webhook's signature does not match the project's secret." },
  DROVER_ERR_GIT_FETCH: { status: 502, meaning: "The project's repository could not be fetched." },
  DROVER_ERR_OUTPUT_UNAVAILABLE: { status: 503, meaning: "The output-processor that serves step output is unreachable." },
  DROVER_ERR_INTERNAL: { status: 500, meaning: "An unexpected failure; the reply's `request_id` finds it in the server log." },

  // Tasks (the agent's side of the API).
  DROVER_ERR_TASK_TOKEN: { status: 401, meaning: "The task token is unknown, expired or used already." },
  DROVER_ERR_TASK_SESSION: { status: 401, meaning: "The task session is invalid, or the task is final." },
  DROVER_ERR_SCHEDULER_UNAVAILABLE: { status: 503, meaning: "The scheduler backend (Nomad, Docker) cannot be reached." },
  DROVER_ERR_MACHINES_UNAVAILABLE: { status: 503, meaning: "No vm-service is configured or it cannot be reached, so no machine can be leased." },
  DROVER_ERR_MACHINE_FAILED: { status: 502, meaning: "vm-service could not provide the task's machine (provider quota, capacity, or the machine never became ready)." },

  // Pipelines: compiles run in worker threads (`pipelines/compile-pool.ts`); these end a pipeline as `errored`.
  DROVER_ERR_CONFIG_COMPILE_TIMEOUT: { status: 400, meaning: "The config took longer to compile than the worker's time limit." },
  DROVER_ERR_CONFIG_COMPILE_MEMORY: { status: 400, meaning: "The config needed more memory to compile than a worker may use." },

  // Users and sessions.
  DROVER_ERR_USERS_INVALID: { status: 400, meaning: "A user or login field is invalid." },
  DROVER_ERR_USERS_CONFLICT: { status: 409, meaning: "A user with that login exists already." },
  DROVER_ERR_USERS_FORBIDDEN: { status: 403, meaning: "Only admins may manage users." },
  DROVER_ERR_USERS_TOKEN_EXPIRED: { status: 401, meaning: "The API token is past its `expires_at`." },
  DROVER_ERR_USERS_ORIGIN: { status: 403, meaning: "A cookie-authenticated write came without this server's `Origin`." },
  DROVER_ERR_USERS_RATE_LIMITED: { status: 429, meaning: "Too many failed logins for the user or from the address; see `Retry-After`." },

  // Env vars, contexts and groups.
  DROVER_ERR_CONTEXTS_INVALID: { status: 400, meaning: "A name, value or body field of an env var, context or group is invalid." },
  DROVER_ERR_CONTEXTS_NOT_FOUND: { status: 404, meaning: "The project, context, variable, group or restriction is unknown or invisible." },
  DROVER_ERR_CONTEXTS_FORBIDDEN: { status: 403, meaning: "The caller may not change this context, group or restriction." },
  DROVER_ERR_CONTEXTS_CONFLICT: { status: 409, meaning: "A context, group or restriction of that name exists already." },
  DROVER_ERR_CONTEXT_UNAUTHORIZED: { status: 403, meaning: "A job's user or project may not use a context it names; the job ends `unauthorized`." },

  // The audit log.
  DROVER_ERR_AUDIT_INVALID: { status: 400, meaning: "An audit query parameter or event field is invalid." },
  DROVER_ERR_AUDIT_PAGE_TOKEN: { status: 400, meaning: "The page-token was not issued for this audit query." },
  DROVER_ERR_AUDIT_FORBIDDEN: { status: 403, meaning: "Only admins may read the audit log." },

  // Task storage (artifacts, tests, caches, workspaces).
  DROVER_ERR_STORAGE_INVALID: { status: 400, meaning: "A storage key, path or upload is invalid." },
  DROVER_ERR_STORAGE_TOO_LARGE: { status: 413, meaning: "An upload is larger than the storage limit." },
  DROVER_ERR_STORAGE_NOT_FOUND: { status: 404, meaning: "No stored object has that key." },
  DROVER_ERR_STORAGE_CONFLICT: { status: 409, meaning: "The object exists already and is immutable (caches)." },

  // The secret store.
  DROVER_ERR_SECRETS_INPUT: { status: 400, meaning: "A secret value the store cannot take (not a string, too large)." },
  DROVER_ERR_SECRETS_MASTER_KEY_MISSING: { status: 500, meaning: "No master key is configured, or it is not 32 bytes (base64 or hex)." },
  DROVER_ERR_SECRETS_MASTER_KEY_WRONG: { status: 500, meaning: "The master key does not open the stored keyring; nothing is decrypted." },
  DROVER_ERR_SECRETS_MASTER_KEY_FILE_MODE: { status: 500, meaning: "The master key file is readable by group or others (must be 0600)." },
  DROVER_ERR_SECRETS_KEYRING_CORRUPT: { status: 500, meaning: "The stored keyring opened but is not one Drover wrote." },
  DROVER_ERR_SECRETS_CIPHERTEXT: { status: 500, meaning: "A stored ciphertext is malformed, tampered with, or of another key." },
  DROVER_ERR_SECRETS_KEY_VERSION: { status: 500, meaning: "A key version is unknown, below the policy's minimum, or not allowed." },
  DROVER_ERR_SECRETS_VAULT_AUTH: { status: 503, meaning: "Vault refused the control plane's credentials (token or AppRole)." },
  DROVER_ERR_SECRETS_VAULT: { status: 503, meaning: "Vault could not be reached or answered unexpectedly." },
  DROVER_ERR_SECRETS_CONFIG: { status: 500, meaning: "The secret store configuration is invalid or its files cannot be read." },

  // The database.
  DROVER_ERR_DB_CONNECT: { status: 503, meaning: "The database cannot be reached." },
  DROVER_ERR_DB_CLOSED: { status: 503, meaning: "The database was used after it was closed (shutting down)." },
  DROVER_ERR_DB_MIGRATION: { status: 500, meaning: "A schema migration failed or the schema is newer than this server." },

  // Configuration.
  DROVER_ERR_ENV_INVALID: { status: 500, meaning: "An environment variable is invalid; the message names each one." },

  // TLS (`@drover/tls`): raised at start and by clients of Drover's own services.
  DROVER_ERR_PLAINTEXT_REFUSED: { status: 500, meaning: "Plaintext beyond loopback without DROVER_ALLOW_PLAINTEXT=true; the message names the variable." },
  DROVER_ERR_TLS_CONFIG: { status: 500, meaning: "A certificate or key file (DROVER_TLS_*) is missing, unreadable or not PEM." },
  DROVER_ERR_TLS_CERT_EXPIRED: { status: 502, meaning: "A peer's certificate has expired." },
  DROVER_ERR_TLS_CERT_NOT_YET_VALID: { status: 502, meaning: "A peer's certificate is not valid yet (check the clocks)." },
  DROVER_ERR_TLS_UNKNOWN_CA: { status: 502, meaning: "A peer's certificate is not signed by the CA Drover trusts (DROVER_TLS_CA)." },
  DROVER_ERR_TLS_NAME_MISMATCH: { status: 502, meaning: "A peer's certificate does not name the host Drover connected to." },
  DROVER_ERR_TLS_CERT_PURPOSE: { status: 502, meaning: "A peer serves a certificate that is not a server certificate." },
  DROVER_ERR_TLS_HANDSHAKE: { status: 502, meaning: "The TLS handshake with a peer failed otherwise (plaintext peer, client certificate refused)." },
  DROVER_ERR_TLS_FILE_EXISTS: { status: 409, meaning: "`drover tls` would overwrite an existing file." },
} as const satisfies Record<`DROVER_ERR_${string}`, { status: number; meaning: string }>;

/** One stable error code of the control plane. */
export type ErrorCode = keyof typeof ERROR_CODES;

/** Whose fault an error is: the caller's input or job, or our infrastructure. */
export type Fault = "user" | "infrastructure";

/** The HTTP status of a code. */
export const statusOf = (code: ErrorCode): number => ERROR_CODES[code].status;

/** 5xx codes are our infrastructure's fault; 4xx codes the caller's. */
export const faultOf = (code: ErrorCode): Fault =>
  statusOf(code) >= 500 ? "infrastructure" : "user";

/** True when `value` is a code of the table. */
export const isErrorCode = (value: unknown): value is ErrorCode =>
  typeof value === "string" && Object.hasOwn(ERROR_CODES, value);
