export const WORKSPACE = "build-agent";
export { runAgent, dockerClient, prepareNetRules, type AgentRunOptions } from "./agent.js";
export {
  loadAgentConfig,
  agentEnvSchema,
  defaultExecutorConfig,
  defaultSshConfig,
  dockerConnection,
  PER_JOB_NETWORK,
  type AgentConfig,
  type ExecutorConfig,
  type DockerConnection,
} from "./config.js";
export { AgentError, ErrorCodes } from "./errors.js";
export {
  DEFAULT_SSH_WAIT,
  SshWaitPolicy,
  type SshWaitEnd,
  type SshWaitLimits,
} from "./ssh/wait-policy.js";
export {
  RerunSshServer,
  type RerunSshServerOptions,
  type SessionProcess,
  type SessionRequest,
} from "./ssh/server.js";
export { NO_KEYS_MESSAGE, type RerunSshConfig } from "./ssh/rerun.js";
export type {
  Executor,
  ExecHandle,
  ExecRequest,
  ExecResult,
  EnvironmentInfo,
} from "./executor/types.js";
export {
  DockerExecutor,
  LABEL_TASK,
  LABEL_ROLE,
  METADATA_ADDRESS,
  LINK_LOCAL_V4,
  JOB_BRIDGE_PREFIX,
  createJobNetwork,
  removeNetwork,
  JobNetRules,
  netRulesUnavailable,
  chainRules,
  runCommand,
  CHAIN_INPUT,
  CHAIN_FORWARD,
  type JobNetwork,
  type NetRulesOptions,
  type CommandRunner,
  parseImageAliases,
  resolveImage,
  resourcesFor,
  sweepOrphans,
  type ImageAlias,
} from "./executor/docker/index.js";
export {
  MemorySink,
  NdjsonSink,
  type OutputSink,
  type OutputRecord,
  type OutputStream,
} from "./output/sink.js";
export {
  MachineExecutor,
  type MachineExecutorOptions,
  type MachineTarget,
} from "./executor/machine/machine-executor.js";
export { MaskingSink } from "./output/masking.js";
export { ProcessorSink } from "./output/processor-sink.js";
export {
  Runner,
  SPIN_UP_STEP,
  serviceStep,
  type RunnerDeps,
  type TaskOutcome,
} from "./runner/runner.js";
export { builtinEnvironment, jobEnvironment } from "./runner/environment.js";
export { parseJUnit } from "./steps/junit.js";
export { renderKey } from "./steps/templates.js";
