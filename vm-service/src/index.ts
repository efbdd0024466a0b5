export const WORKSPACE = "vm-service";
