export const WORKSPACE = "integration";
