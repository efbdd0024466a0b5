export {
  S3Client,
  ObjectStoreError,
  validateKey,
  type ByteRange,
  type GetResult,
  type ObjectInfo,
} from "./client.js";
export { s3ConfigSchema, parseS3Config, type S3Config, type S3ConfigInput } from "./config.js";
export * as sigv4 from "./sigv4.js";
