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
export type { SqlDatabase, SqlQueryable } from "./store/sql.js";
export { ensureVmSchema } from "./store/schema.js";
export { PostgresSql, type PostgresSqlOptions } from "./store/pg.js";
export {
  LeaseService,
  leaseAccess,
  leaseConfigSchema,
  MANAGED_BY,
  REMOTE_DOCKER_NAME,
  type LeaseConfig,
  type LeaseRequest,
  type LeaseServiceDeps,
  type MachineLease,
  type MachineSummary,
} from "./service/leases.js";
export { createVmApi, type VmApiDeps } from "./api/server.js";
export { VmServiceClient, type VmServiceClientOptions } from "./client/index.js";
export {
  vmServiceConfigSchema,
  vmServiceConfigFromEnv,
  type VmServiceConfig,
  type VmServiceConfigInput,
} from "./config.js";
export { makeProvider, startVmService, type VmService } from "./service/run.js";
export { cloudUserData } from "./provider/user-data.js";
export {
  Ec2Provider,
  ec2ProviderConfigSchema,
  type Ec2ProviderConfig,
} from "./providers/ec2/ec2-provider.js";
export {
  GceProvider,
  gceProviderConfigSchema,
  gceLabel,
  type GceProviderConfig,
  type GceAuthClient,
} from "./providers/gce/gce-provider.js";
