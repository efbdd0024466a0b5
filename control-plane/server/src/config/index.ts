export * from "./server-config.js";
export type { ServiceUrls } from "./urls.js";
