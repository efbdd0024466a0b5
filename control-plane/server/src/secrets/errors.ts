/** Stable codes of the secrets layer; never reused. */
export type SecretsErrorCode =
  /** No master key configured, or it is not 32 bytes (base64 or hex). */
  | "DROVER_ERR_SECRETS_MASTER_KEY_MISSING"
  /** The master key does not open the stored keyring: wrong key, so nothing is decrypted. */
  | "DROVER_ERR_SECRETS_MASTER_KEY_WRONG"
  /** The master key file is readable by group or others (must be 0600). */
  | "DROVER_ERR_SECRETS_MASTER_KEY_FILE_MODE"
  /** The stored keyring opened but is not a keyring Drover wrote. */
  | "DROVER_ERR_SECRETS_KEYRING_CORRUPT"
  /** A ciphertext is malformed, was tampered with, or belongs to another key. */
  | "DROVER_ERR_SECRETS_CIPHERTEXT"
  /** A key version is unknown, too old for the policy, or not allowed for encryption. */
  | "DROVER_ERR_SECRETS_KEY_VERSION"
  /** Plaintext input the store cannot take (not a string, too large). */
  | "DROVER_ERR_SECRETS_INPUT"
  /** Vault refused our credentials (token or AppRole). */
  | "DROVER_ERR_SECRETS_VAULT_AUTH"
  /** Vault could not be reached or answered unexpectedly: our infrastructure, not the user. */
  | "DROVER_ERR_SECRETS_VAULT"
  /** The secret store configuration is invalid. */
  | "DROVER_ERR_SECRETS_CONFIG";

/** Base error of the secret store. Messages never contain plaintext. */
export class SecretsError extends Error {
  constructor(
    readonly code: SecretsErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "SecretsError";
  }
}
