export * from "./push.js";
