export type { PubSub } from "./types.js";
export { MemoryPubSub } from "./memory.js";
export { RedisPubSub } from "./redis.js";
