export const WORKSPACE = "output-processor";
export * from "./masking/index.js";
