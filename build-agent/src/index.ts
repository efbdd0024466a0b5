export const WORKSPACE = "build-agent";
