/**
 * The compiler's output: a fully resolved pipeline plan. Everything a later stage needs is here;
 * no `<< >>` parameter, command, executor reference, matrix or `when` step survives compilation.
 * Consumers: the workflow engine (stores workflows/jobs), the scheduler (one task per parallel
 * node), the build agent (through the task API), `drover config process --plan`.
 */

/** Values known when a pipeline is triggered; they feed `<< pipeline.* >>` and filters. */
export interface PipelineValues {
  id: string;
  number: number;
  projectSlug: string;
  gitUrl: string;
  branch?: string;
  tag?: string;
  revision: string;
  /** `api`, `webhook`, `scheduled_pipeline`, `cli` */
  triggerSource: string;
  /** Trigger parameters (`pipeline.parameters.*` overrides), type-checked against the config. */
  parameters: Record<string, string | number | boolean>;
}

export interface PipelinePlan {
  /** `2`, `2.0` or `2.1` as written in the config. */
  version: string;
  /** Resolved pipeline parameters (defaults plus trigger overrides). */
  parameters: Record<string, string | number | boolean>;
  /** Workflows that run for these pipeline values (workflow `when`/`unless` applied). */
  workflows: WorkflowPlan[];
  /** `setup: true`: a dynamic-config setup pipeline (its jobs continue with another config). */
  setup?: boolean;
  /**
   * Every 2.0 `triggers: - schedule` in the config, whatever these pipeline values are, so a cron
   * service can register them (the workflows themselves appear only for scheduled triggers).
   */
  schedules?: Array<{
    workflow: string;
    cron: string;
    branches: { only?: string[]; ignore?: string[] };
  }>;
}

export interface WorkflowPlan {
  name: string;
  /** 2.0 `triggers: - schedule`: such a workflow runs only for scheduled triggers. */
  schedule?: { cron: string; branches: { only?: string[]; ignore?: string[] } };
  /** Jobs that run for these pipeline values (filters applied, matrix expanded), in config order. */
  jobs: JobPlan[];
}

/** A job edge. `statuses` defaults to `["success"]` (CircleCI's plain `requires: [a]`). */
export interface JobRequirement {
  job: string;
  statuses: Array<"success" | "failed" | "canceled" | "not_run" | "unauthorized">;
}

export interface JobPlan {
  /** Unique within the workflow: the `name:` override or the generated matrix name. */
  name: string;
  /** The name of the job definition under `jobs:` (or `orb/job`). */
  definition: string;
  type: "build" | "approval";
  requires: JobRequirement[];
  contexts: string[];
  /** >= 1; each node becomes one task. */
  parallelism: number;
  /** Absent for approval jobs. */
  executor?: ExecutorPlan;
  steps: StepPlan[];
  /** Job-level environment (executor environment merged under job environment). */
  environment: Record<string, string>;
  /** Defaults to `~/project`. */
  workingDirectory: string;
  /** Job default shell, if the config set one. */
  shell?: string;
  /** Defaults to `medium`. */
  resourceClass: string;
  /**
   * A job definition with `type: no-op` (type `build`, no executor, no steps): it has nothing to
   * run and succeeds as soon as its requirements are met.
   */
  noOp?: boolean;
  /** Workflow `serial-group`: jobs sharing it run one at a time across pipelines. */
  serialGroup?: string;
}

export type ExecutorPlan = DockerExecutorPlan | MachineExecutorPlan;

export interface DockerExecutorPlan {
  type: "docker";
  /** The first image is the primary container; the rest are services. */
  images: DockerImagePlan[];
}

export interface DockerImagePlan {
  image: string;
  name?: string;
  entrypoint?: string[];
  command?: string[];
  user?: string;
  environment: Record<string, string>;
  auth?: { username: string; password: string };
  awsAuth?: { awsAccessKeyId?: string; awsSecretAccessKey?: string; oidcRoleArn?: string };
}

export interface MachineExecutorPlan {
  type: "machine";
  image: string;
  dockerLayerCaching: boolean;
  /** Absent means linux; `macos` comes from a `macos: {xcode}` executor (image `xcode:<version>`). */
  platform?: "linux" | "windows" | "macos";
  /** The `macos` executor's Xcode version. */
  xcode?: string;
}

/** When a step runs relative to earlier failures. */
export type StepWhen = "on_success" | "on_fail" | "always";

export type StepPlan =
  | RunStep
  | CheckoutStep
  | SaveCacheStep
  | RestoreCacheStep
  | StoreArtifactsStep
  | StoreTestResultsStep
  | PersistToWorkspaceStep
  | AttachWorkspaceStep
  | AddSshKeysStep
  | SetupRemoteDockerStep;

export interface StepBase {
  /** Display name (CircleCI's defaults for built-ins, e.g. `Checkout code`). */
  name: string;
  when: StepWhen;
}

export interface RunStep extends StepBase {
  type: "run";
  command: string;
  shell?: string;
  environment: Record<string, string>;
  background: boolean;
  workingDirectory?: string;
  /** Milliseconds; CircleCI's default is 10 minutes. */
  noOutputTimeoutMs: number;
}

export interface CheckoutStep extends StepBase {
  type: "checkout";
  path?: string;
  /** `full` or `blobless`, as written. */
  method?: string;
}

export interface SaveCacheStep extends StepBase {
  type: "save_cache";
  /** Template, resolved by the agent (`{{ .Branch }}`, `{{ checksum "f" }}`...). */
  key: string;
  paths: string[];
}

export interface RestoreCacheStep extends StepBase {
  type: "restore_cache";
  /** Templates tried in order; each is a prefix match, most recent wins. */
  keys: string[];
}

export interface StoreArtifactsStep extends StepBase {
  type: "store_artifacts";
  path: string;
  destination?: string;
}

export interface StoreTestResultsStep extends StepBase {
  type: "store_test_results";
  path: string;
}

export interface PersistToWorkspaceStep extends StepBase {
  type: "persist_to_workspace";
  root: string;
  paths: string[];
}

export interface AttachWorkspaceStep extends StepBase {
  type: "attach_workspace";
  at: string;
}

export interface AddSshKeysStep extends StepBase {
  type: "add_ssh_keys";
  fingerprints: string[];
}

export interface SetupRemoteDockerStep extends StepBase {
  type: "setup_remote_docker";
  version?: string;
  dockerLayerCaching: boolean;
}

/** One compiler finding. Every error is reported, not only the first. */
export interface CompileError {
  /** Stable code, e.g. `DROVER_ERR_CONFIG_UNKNOWN_KEY`. */
  code: string;
  message: string;
  file: string;
  /** 1-based; 0 when the error has no position (e.g. an unresolvable orb). */
  line: number;
  col: number;
}

export interface CompileOptions {
  /** Shown in errors (`file:line:col`); defaults to `.circleci/config.yml`. */
  file?: string;
  pipeline: PipelineValues;
  /** Directory of registry orbs: `<namespace>/<name>@<version>.yml` (`DROVER_ORBS_DIR`). */
  orbsDir?: string;
}

export interface CompileResult {
  /**
   * Findings that do not stop compilation (e.g. an unknown option on a built-in step, which
   * CircleCI ignores). Same shape as errors; codes start with `DROVER_WARN_CONFIG_`.
   */
  warnings?: CompileError[];
  /** Present when there are no errors. */
  plan?: PipelinePlan;
  /** The processed config (orbs, commands, executors, parameters and matrices expanded) as YAML. */
  processed?: string;
  errors: CompileError[];
}
