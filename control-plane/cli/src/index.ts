export {
  DroverClient,
  DroverApiError,
  DroverUnreachableError,
  type ApiPipeline,
  type ApiWorkflow,
  type ApiWorkflowJob,
  type ApiJobDetails,
  type ApiToken,
  type Paged,
} from "./client.js";
export { followPipeline, isServerAway, resultLines, type FollowOptions } from "./follow.js";
export { LiveOutput, discoverOutputUrl, type LiveOutputOptions } from "./live-output.js";
export {
  CliSettingsError,
  findCliFile,
  loadCliSettings,
  saveCliSettings,
  type CliSettings,
} from "./settings.js";
export { HelpRequested, UsageError, parseCommand, subcommand } from "./args.js";
export { runPipeline, type RunPipelineOptions } from "./commands/run.js";
export { commands, runCli, type CommandModule } from "./commands.js";
