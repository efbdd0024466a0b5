export { type BlobStore, checkBlobKey } from "./blob-store.js";
export { DiskBlobStore } from "./disk-blob-store.js";
export { S3BlobStore, s3BlobStoreConfigSchema, type S3BlobStoreConfig } from "./s3-blob-store.js";
export { StorageError } from "./errors.js";
export {
  DEFAULT_RETENTION,
  TaskStorage,
  type RetentionDays,
  type TaskScope,
  type TaskStorageOptions,
  type ArtifactRecord,
} from "./task-storage.js";
