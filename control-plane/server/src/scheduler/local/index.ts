export {
  LocalScheduler,
  agentEnv,
  defaultAgentCommand,
  type LocalSchedulerOptions,
} from "./local.js";
export { InstantScheduler } from "./instant.js";
