export * from "./compiler/plan.js";
export * from "./scheduler/index.js";
export * from "./task-api/index.js";
export * from "./secrets/index.js";
export * from "./audit/index.js";
