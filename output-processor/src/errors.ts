/** Stable error codes of the output-processor; never reused. */
export type OutputErrorCode =
  | "DROVER_ERR_OUTPUT_CONFIG"
  | "DROVER_ERR_OUTPUT_TOKEN"
  | "DROVER_ERR_OUTPUT_FRAME"
  | "DROVER_ERR_OUTPUT_STORE"
  | "DROVER_ERR_OUTPUT_OBJSTORE"
  | "DROVER_ERR_OUTPUT_PUBSUB"
  | "DROVER_ERR_OUTPUT_CLIENT_REJECTED"
  | "DROVER_ERR_OUTPUT_CLIENT_CLOSED";

/** Base error of this package: infrastructure failures of output handling, never a user's job failing. */
export class OutputError extends Error {
  readonly code: OutputErrorCode;
  constructor(code: OutputErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "OutputError";
    this.code = code;
  }
}
