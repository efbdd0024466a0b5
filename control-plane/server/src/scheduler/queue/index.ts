export { QueueScheduler, type QueueSchedulerOptions } from "./scheduler.js";
export { QueueRunner, type QueueRunnerOptions } from "./runner.js";
