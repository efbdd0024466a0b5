export * from "./errors.js";
export * from "./records.js";
export * from "./pagination.js";
export * from "./projects.js";
export * from "./users.js";
export * from "./pipelines.js";
export * from "./workflows.js";
export * from "./schedules.js";
