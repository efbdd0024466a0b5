export * from "./tokens.js";
export * from "./principal.js";
export * from "./ssh-keys.js";
export * from "./guards.js";
