/**
 * The client side: connect options that verify a peer against a CA (for undici's `connect`, ws
 * and node:https), and failures of the handshake named for people (expired, wrong CA, wrong name).
 */
import { TlsError } from "./errors.js";

/** PEM contents (not paths) a client connects with. */
export interface ClientTls {
  /** CAs to verify the peer against; unset: Node's bundled roots. */
  ca?: string | string[] | undefined;
  /** Client certificate and key, for peers that require mutual TLS. */
  cert?: string | undefined;
  key?: string | undefined;
  /** Name to verify instead of the URL's host (`NOMAD_TLS_SERVER_NAME`). */
  servername?: string | undefined;
  /** false skips verification (`NOMAD_SKIP_VERIFY`; loopback experiments only). */
  rejectUnauthorized?: boolean | undefined;
}

/** `tls.connect` options of `tls` (only the set ones, as `exactOptionalPropertyTypes` wants). */
export function connectOptions(tls: ClientTls | undefined): {
  ca?: string | string[];
  cert?: string;
  key?: string;
  servername?: string;
  rejectUnauthorized?: boolean;
} {
  if (!tls) return {};
  return {
    ...(tls.ca !== undefined ? { ca: tls.ca } : {}),
    ...(tls.cert !== undefined ? { cert: tls.cert } : {}),
    ...(tls.key !== undefined ? { key: tls.key } : {}),
    ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
    ...(tls.rejectUnauthorized === false ? { rejectUnauthorized: false } : {}),
  };
}

const UNKNOWN_CA = new Set([
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "UNABLE_TO_GET_ISSUER_CERT",
  "UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
  "CERT_SIGNATURE_FAILURE",
]);

/** Handshake failures that mean "this peer does not speak TLS" or "it refused our certificate". */
const HANDSHAKE = /^(EPROTO|ERR_SSL_|ECONNRESET$)/;

function codesOf(err: unknown): Array<{ code: string; message: string; error: unknown }> {
  const out: Array<{ code: string; message: string; error: unknown }> = [];
  const seen = new Set<unknown>();
  const walk = (e: unknown, depth: number): void => {
    if (!e || typeof e !== "object" || seen.has(e) || depth > 6) return;
    seen.add(e);
    const code = (e as { code?: unknown }).code;
    const message = (e as { message?: unknown }).message;
    if (typeof code === "string") {
      out.push({ code, message: typeof message === "string" ? message : "", error: e });
    }
    walk((e as { cause?: unknown }).cause, depth + 1);
    for (const inner of (e as { errors?: unknown[] }).errors ?? []) walk(inner, depth + 1);
  };
  walk(err, 0);
  return out;
}

export interface TlsFailureContext {
  /** What was being reached, e.g. `the Drover server at https://ci.example.com`. */
  peer: string;
  /** The setting that names the CA to trust, e.g. `DROVER_TLS_CA` or `NOMAD_CACERT`. */
  caSetting?: string;
}

/**
 * The TLS failure inside `err` (undici's `fetch failed`, a ws error, a node:https error) as a
 * `TlsError` that names the problem, or undefined when `err` is not a TLS failure.
 */
export function tlsFailure(err: unknown, ctx: TlsFailureContext): TlsError | undefined {
  if (err instanceof TlsError) return err;
  const ca = ctx.caSetting ?? "DROVER_TLS_CA";
  for (const { code, message, error } of codesOf(err)) {
    if (code === "CERT_HAS_EXPIRED") {
      return new TlsError(
        "DROVER_ERR_TLS_CERT_EXPIRED",
        `the certificate of ${ctx.peer} has expired (CERT_HAS_EXPIRED): renew it (drover tls cert create)`,
        { cause: error },
      );
    }
    if (code === "CERT_NOT_YET_VALID") {
      return new TlsError(
        "DROVER_ERR_TLS_CERT_NOT_YET_VALID",
        `the certificate of ${ctx.peer} is not valid yet (CERT_NOT_YET_VALID): check both clocks`,
        { cause: error },
      );
    }
    if (UNKNOWN_CA.has(code)) {
      return new TlsError(
        "DROVER_ERR_TLS_UNKNOWN_CA",
        `the certificate of ${ctx.peer} is not signed by a trusted CA (${code}): set ${ca} to the CA that signed it`,
        { cause: error },
      );
    }
    if (code === "INVALID_PURPOSE") {
      return new TlsError(
        "DROVER_ERR_TLS_CERT_PURPOSE",
        `the certificate of ${ctx.peer} is not a server certificate (INVALID_PURPOSE): make one with drover tls cert create --server`,
        { cause: error },
      );
    }
    if (code === "ERR_TLS_CERT_ALTNAME_INVALID") {
      return new TlsError(
        "DROVER_ERR_TLS_NAME_MISMATCH",
        `the certificate of ${ctx.peer} does not name the host connected to (ERR_TLS_CERT_ALTNAME_INVALID: ${message}): make a certificate with that name (--dns/--ip)`,
        { cause: error },
      );
    }
    if (HANDSHAKE.test(code) && /ssl|tls|certificate|handshake|alert/i.test(message)) {
      return new TlsError(
        "DROVER_ERR_TLS_HANDSHAKE",
        `the TLS handshake with ${ctx.peer} failed (${code}: ${message})`,
        { cause: error },
      );
    }
  }
  return undefined;
}
