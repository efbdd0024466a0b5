export {
  DroverClient,
  DroverApiError,
  type ApiPipeline,
  type ApiWorkflow,
  type ApiWorkflowJob,
  type ApiJobDetails,
  type ApiToken,
  type Paged,
} from "./client.js";
export { followPipeline, type FollowOptions } from "./follow.js";
export { LiveOutput, discoverOutputUrl, type LiveOutputOptions } from "./live-output.js";
export { findCliFile, loadCliSettings, saveCliSettings, type CliSettings } from "./settings.js";
export { runPipeline, type RunPipelineOptions } from "./commands/run.js";
export { commands, runCli, type CommandModule } from "./commands.js";
