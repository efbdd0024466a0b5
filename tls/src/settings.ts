/**
 * TLS settings a service or client starts with: `DROVER_TLS_CERT`/`DROVER_TLS_KEY` (serve TLS),
 * `DROVER_TLS_CA` (verify peers), `DROVER_ALLOW_PLAINTEXT` (plaintext outside loopback), and the
 * rule that refuses plaintext beyond loopback unless the operator says so.
 */
import { readFileSync } from "node:fs";
import { z } from "zod";
import { TlsError } from "./errors.js";

/** A boolean as Go's `strconv.ParseBool` reads it (what Nomad's and Vault's CLIs accept). */
const bool = z.preprocess(
  (v) => {
    if (typeof v !== "string") return v;
    if (/^(1|t|true)$/i.test(v)) return true;
    if (/^(0|f|false)$/i.test(v)) return false;
    return v;
  },
  z.boolean({ error: "true or false (or 1/0, t/f)" }),
);

/** The variables, with one line each (services' READMEs repeat these lines). */
export const tlsEnvSchema = z.object({
  DROVER_TLS_CERT: z
    .string()
    .min(1)
    .optional()
    .describe("PEM certificate to serve TLS with (with DROVER_TLS_KEY); unset: plaintext."),
  DROVER_TLS_KEY: z.string().min(1).optional().describe("PEM private key of DROVER_TLS_CERT."),
  DROVER_TLS_CA: z
    .string()
    .min(1)
    .optional()
    .describe("PEM CA that Drover's own services' certificates are verified against."),
  DROVER_ALLOW_PLAINTEXT: bool
    .default(false)
    .describe("`true`: listen and connect in plaintext beyond loopback (a private network)."),
});
export type TlsEnv = z.infer<typeof tlsEnvSchema>;

/** TLS of a server: PEM contents, not paths. */
export interface ServerTls {
  cert: string;
  key: string;
}

/** Reads a PEM file named by `variable`; a missing or non-PEM file is `DROVER_ERR_TLS_CONFIG`. */
export function readPem(file: string, variable: string): string {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new TlsError(
      "DROVER_ERR_TLS_CONFIG",
      `${variable}: cannot read ${file} (${(err as NodeJS.ErrnoException).code ?? String(err)})`,
      { cause: err },
    );
  }
  if (!text.includes("-----BEGIN ")) {
    throw new TlsError("DROVER_ERR_TLS_CONFIG", `${variable}: ${file} is not a PEM file`);
  }
  return text;
}

/** The server certificate and key the settings name, or undefined when none is set. */
export function serverTlsOf(
  env: Pick<TlsEnv, "DROVER_TLS_CERT" | "DROVER_TLS_KEY">,
): ServerTls | undefined {
  const { DROVER_TLS_CERT: certFile, DROVER_TLS_KEY: keyFile } = env;
  if (!certFile && !keyFile) return undefined;
  if (!certFile || !keyFile) {
    throw new TlsError(
      "DROVER_ERR_TLS_CONFIG",
      `${certFile ? "DROVER_TLS_KEY" : "DROVER_TLS_CERT"}: DROVER_TLS_CERT and DROVER_TLS_KEY are set together`,
    );
  }
  return { cert: readPem(certFile, "DROVER_TLS_CERT"), key: readPem(keyFile, "DROVER_TLS_KEY") };
}

/** The CA clients verify Drover's services against, or undefined (Node's roots). */
export function caOf(env: Pick<TlsEnv, "DROVER_TLS_CA">): string | undefined {
  return env.DROVER_TLS_CA ? readPem(env.DROVER_TLS_CA, "DROVER_TLS_CA") : undefined;
}

/** True for names and addresses that never leave the host. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return (
    h === "localhost" ||
    h.endsWith(".localhost") ||
    h === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h) ||
    h === "::ffff:127.0.0.1"
  );
}

/**
 * Refuses to listen in plaintext beyond loopback (`DROVER_ERR_PLAINTEXT_REFUSED`) unless
 * `allowPlaintext`; `service` and `hostVariable` name what and where in the message.
 */
export function checkListen(opts: {
  service: string;
  host: string;
  tls: boolean;
  allowPlaintext: boolean;
  hostVariable?: string;
}): void {
  if (opts.tls || opts.allowPlaintext || isLoopbackHost(opts.host)) return;
  throw new TlsError(
    "DROVER_ERR_PLAINTEXT_REFUSED",
    `${opts.service} would listen in plaintext on ${opts.host}${opts.hostVariable ? ` (${opts.hostVariable})` : ""}, beyond loopback: ` +
      "set DROVER_TLS_CERT and DROVER_TLS_KEY (drover tls cert create --server), " +
      "or DROVER_ALLOW_PLAINTEXT=true on a private network",
  );
}

/**
 * Refuses a plaintext URL (`http:`, `ws:`, `redis:`, `postgres:` without sslmode) beyond
 * loopback unless `allowPlaintext`.
 */
export function checkConnect(opts: {
  peer: string;
  url: string;
  allowPlaintext: boolean;
  variable?: string;
}): void {
  if (opts.allowPlaintext) return;
  let u: URL;
  try {
    u = new URL(opts.url);
  } catch {
    return; // the config schema reports malformed URLs
  }
  if (isLoopbackHost(u.hostname) || !isPlaintextUrl(u)) return;
  throw new TlsError(
    "DROVER_ERR_PLAINTEXT_REFUSED",
    `${opts.peer} at ${u.protocol}//${u.host}${opts.variable ? ` (${opts.variable})` : ""} is plaintext beyond loopback: ` +
      `use ${secureHint(u)}, or DROVER_ALLOW_PLAINTEXT=true on a private network`,
  );
}

function isPlaintextUrl(u: URL): boolean {
  switch (u.protocol) {
    case "http:":
    case "ws:":
    case "redis:":
      return true;
    case "postgres:":
    case "postgresql:": {
      const mode = u.searchParams.get("sslmode");
      return mode === null || mode === "disable" || mode === "allow" || mode === "prefer";
    }
    default:
      return false;
  }
}

function secureHint(u: URL): string {
  if (u.protocol === "redis:") return "rediss://";
  if (u.protocol.startsWith("postgres")) return "sslmode=verify-full (or require)";
  return u.protocol === "ws:" ? "wss://" : "https://";
}
