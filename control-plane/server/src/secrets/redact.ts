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

/** Environment variables that hold secret-store credentials: never hand them to an agent. */
export const SECRET_STORE_ENV_NAMES: readonly string[] = [
  "DROVER_MASTER_KEY",
  "VAULT_TOKEN",
  "DROVER_VAULT_ROLE_ID",
  "DROVER_VAULT_SECRET_ID",
];

/** A copy of `env` without the secret store's credentials (for spawning agents). */
export function withoutSecretStoreEnv(
  env: Record<string, string | undefined>,
): Record<string, string | undefined> {
  const copy = { ...env };
  for (const name of SECRET_STORE_ENV_NAMES) delete copy[name];
  return copy;
}
