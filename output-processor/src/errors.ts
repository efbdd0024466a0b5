/** Stable error codes of the output-processor; never reused. */
export type OutputErrorCode =
  | "DROVER_ERR_OUTPUT_CONFIG"
  | "DROVER_ERR_OUTPUT_TOKEN"
  | "DROVER_ERR_OUTPUT_FRAME"
  | "DROVER_ERR_OUTPUT_STORE"
  | "DROVER_ERR_OUTPUT_OBJSTORE"
  | "DROVER_ERR_OUTPUT_PUBSUB"
  | "DROVER_ERR_OUTPUT_CLIENT_REJECTED"
  | "DROVER_ERR_OUTPUT_CLIENT_CLOSED"
  /** The task's output was finished (and its token retired) before this client connected. */
  | "DROVER_ERR_OUTPUT_TASK_FINISHED"
  /** A request's path or query is malformed (bad percent-encoding, NUL, an unsafe number). */
  | "DROVER_ERR_OUTPUT_QUERY"
  /** No such route or task log (unknown and forbidden logs answer alike). */
  | "DROVER_ERR_OUTPUT_NOT_FOUND"
  /** A method other than GET or HEAD on a log route. */
  | "DROVER_ERR_OUTPUT_METHOD";

/** Base error of this package: infrastructure failures of output handling, never a user's job failing. */
export class OutputError extends Error {
  readonly code: OutputErrorCode;
  constructor(code: OutputErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "OutputError";
    this.code = code;
  }
}
