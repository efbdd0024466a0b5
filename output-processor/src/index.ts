export const WORKSPACE = "output-processor";
