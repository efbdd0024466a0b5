import { DroverError } from "../errors/index.js";

/** Codes of the storage layer; statuses and meanings in `ERROR_CODES`. */
export type StorageErrorCode =
  | "DROVER_ERR_STORAGE_TOO_LARGE"
  | "DROVER_ERR_STORAGE_NOT_FOUND"
  | "DROVER_ERR_STORAGE_CONFLICT"
  | "DROVER_ERR_STORAGE_INVALID";

/** Error of the storage layer. */
export class StorageError extends DroverError<StorageErrorCode> {
  constructor(code: StorageErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
