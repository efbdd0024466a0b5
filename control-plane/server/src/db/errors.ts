/** Base error of the database layer. */
export class DatabaseError extends Error {
  constructor(
    readonly code: "DROVER_ERR_DB_MIGRATION" | "DROVER_ERR_DB_CONNECT" | "DROVER_ERR_DB_CLOSED",
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "DatabaseError";
  }
}
