export * from "./types.js";
export * from "./nomad/index.js";
