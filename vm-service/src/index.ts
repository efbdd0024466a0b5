export * from "./provider/types.js";
export { VmError, ProviderError, type VmErrorCode, type ProviderFailureKind } from "./errors.js";
export { generateSshKeyPair, sshFingerprint, type SshKeyPair } from "./credentials/ssh.js";
export {
  createDockerTlsSet,
  type DockerTlsSet,
  type DockerTlsOptions,
} from "./credentials/docker-tls.js";
export {
  LocalProvider,
  localProviderConfigSchema,
  type LocalProviderConfig,
} from "./providers/local/local-provider.js";
export {
  provisionMachine,
  sshConnect,
  sshExec,
  dockerTlsPing,
  type MachineAccess,
  type ProvisionOptions,
} from "./machine/provision.js";
