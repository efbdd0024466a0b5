import { DroverError } from "../errors/index.js";

/** Codes of the secrets layer; statuses and meanings in `ERROR_CODES`. */
export type SecretsErrorCode =
  | "DROVER_ERR_SECRETS_MASTER_KEY_MISSING"
  | "DROVER_ERR_SECRETS_MASTER_KEY_WRONG"
  | "DROVER_ERR_SECRETS_MASTER_KEY_FILE_MODE"
  | "DROVER_ERR_SECRETS_KEYRING_CORRUPT"
  | "DROVER_ERR_SECRETS_CIPHERTEXT"
  | "DROVER_ERR_SECRETS_KEY_VERSION"
  | "DROVER_ERR_SECRETS_INPUT"
  | "DROVER_ERR_SECRETS_VAULT_AUTH"
  | "DROVER_ERR_SECRETS_VAULT"
  | "DROVER_ERR_SECRETS_CONFIG";

/** Error of the secret store. Messages never contain plaintext. */
export class SecretsError extends DroverError<SecretsErrorCode> {
  constructor(code: SecretsErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
