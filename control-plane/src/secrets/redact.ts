/**
 * pino `redact` paths for anything that may hold a secret value; the root logger should include
 * them (beside its token paths). Wildcards cover one level of nesting: `{ task: spec }` and
 * `{ body: { value } }` are both caught.
 */
export const SECRET_LOG_REDACT_PATHS: readonly string[] = [
  "*.value",
  "*.password",
  "*.plaintext",
  "*.secrets",
  "*.masterKey",
  "*.secretId",
  "*.secret_id",
  "*.environment.project",
  "*.environment.contexts",
  "*.*.value",
  "*.*.password",
  "*.*.secrets",
  "*.*.environment.project",
  "*.*.environment.contexts",
  "req.headers.cookie",
  'res.headers["set-cookie"]',
  'req.headers["x-vault-token"]',
];
