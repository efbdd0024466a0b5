/**
 * Stable codes of TLS failures, never reused; the control plane's `ERROR_CODES` table holds each
 * with its HTTP status (a test checks it).
 */
export const TLS_ERROR_CODES = [
  /** The peer's certificate is past its notAfter (Node: CERT_HAS_EXPIRED). */
  "DROVER_ERR_TLS_CERT_EXPIRED",
  /** The peer's certificate is not valid yet (Node: CERT_NOT_YET_VALID). */
  "DROVER_ERR_TLS_CERT_NOT_YET_VALID",
  /** The peer's certificate is not signed by the CA we trust. */
  "DROVER_ERR_TLS_UNKNOWN_CA",
  /** The peer's certificate is not for this use (a client certificate served by a server). */
  "DROVER_ERR_TLS_CERT_PURPOSE",
  /** The peer's certificate does not name the host we connected to. */
  "DROVER_ERR_TLS_NAME_MISMATCH",
  /** The handshake failed otherwise: plaintext peer, client certificate refused ... */
  "DROVER_ERR_TLS_HANDSHAKE",
  /** Certificate/key files missing, unreadable or not PEM; a cert without its key. */
  "DROVER_ERR_TLS_CONFIG",
  /** `drover tls` would overwrite a file. */
  "DROVER_ERR_TLS_FILE_EXISTS",
  /** Plaintext outside loopback without DROVER_ALLOW_PLAINTEXT=true. */
  "DROVER_ERR_PLAINTEXT_REFUSED",
] as const;
export type TlsErrorCode = (typeof TLS_ERROR_CODES)[number];

export class TlsError extends Error {
  constructor(
    readonly code: TlsErrorCode,
    message: string,
    opts: { cause?: unknown } = {},
  ) {
    super(message, opts);
    this.name = "TlsError";
  }
}
