export * from "./types.js";
export { FsLogStore, type FsLogStoreOptions } from "./fs-store.js";
export {
  MemoryLiveWindow,
  RedisLiveWindow,
  type LiveWindow,
  type LiveWindowOptions,
} from "./live-window.js";
