export const WORKSPACE = "nomad-jobs";
