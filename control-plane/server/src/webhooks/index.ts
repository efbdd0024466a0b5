export * from "./push.js";
export * from "./deliveries.js";
