import { DroverError } from "../errors/index.js";

/** Codes of the database layer; statuses and meanings in `ERROR_CODES`. */
export type DatabaseErrorCode =
  "DROVER_ERR_DB_MIGRATION" | "DROVER_ERR_DB_CONNECT" | "DROVER_ERR_DB_CLOSED";

/** Error of the database layer (always our infrastructure's). */
export class DatabaseError extends DroverError<DatabaseErrorCode> {
  constructor(code: DatabaseErrorCode, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
  }
}
