export type { SecretStore, KeyInfo } from "./types.js";
export { ciphertextVersion, parseCiphertext } from "./types.js";
export { SecretsError, type SecretsErrorCode } from "./errors.js";
export { EmbeddedSecretStore, type EmbeddedSecretStoreOptions } from "./embedded.js";
export { VaultSecretStore, type VaultSecretStoreOptions } from "./vault.js";
export {
  loadMasterKey,
  parseMasterKey,
  generateMasterKey,
  type MasterKeySource,
} from "./master-key.js";
export { secretStoreConfigSchema, createSecretStore, type SecretStoreConfig } from "./config.js";
export {
  SECRET_LOG_REDACT_PATHS,
  SECRET_STORE_ENV_NAMES,
  withoutSecretStoreEnv,
} from "./redact.js";
