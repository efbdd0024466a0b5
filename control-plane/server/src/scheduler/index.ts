export * from "./types.js";
export * from "./nomad/index.js";
export * from "./queue/index.js";
