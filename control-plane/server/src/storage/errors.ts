/** Errors of the storage layer; `code` is stable and never reused. */
export class StorageError extends Error {
  constructor(
    readonly code:
      | "DROVER_ERR_STORAGE_TOO_LARGE"
      | "DROVER_ERR_STORAGE_NOT_FOUND"
      | "DROVER_ERR_STORAGE_CONFLICT"
      | "DROVER_ERR_STORAGE_INVALID",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "StorageError";
  }
}
