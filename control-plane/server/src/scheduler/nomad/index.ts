export { NomadScheduler, type NomadSchedulerOptions } from "./backend.js";
export { allocToTaskState, failureReason, toTaskSpecInput } from "./map.js";
export { listDroverJobs, type NomadJobRow } from "./operators.js";
export { registerNomadAdminRoutes } from "./admin-routes.js";
