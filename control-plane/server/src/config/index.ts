export { envSchema, parseEnv, type DroverEnv, type EnvName } from "./env.js";
export { ConfigError } from "./errors.js";
export {
  loadConfig,
  nomadSettingsFromEnv,
  vmSettingsFromEnv,
  secretStoreConfigFromEnv,
  serverConfigFromEnv,
  type DroverConfig,
  type NomadSettings,
  type VmSettings,
} from "./load.js";
export {
  dataPaths,
  serverConfigOf,
  serverConfigSchema,
  type ServerConfig,
} from "./server-config.js";
export type { ServiceUrls } from "./urls.js";
