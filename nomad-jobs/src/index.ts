export { NomadError, NomadErrorCode, codeForStatus, type NomadErrorDetails } from "./errors.js";
export { fromEnv, nomadConfigSchema, type NomadConfig, type NomadConfigInput } from "./config.js";
export * from "./client/index.js";
export * from "./jobspec/index.js";
