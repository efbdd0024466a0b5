/**
 * AWS Signature Version 4 for S3, header form: the canonical request, the string to sign, the
 * signing key and the `Authorization` header, as AWS documents them ("Signature Calculations for
 * the Authorization Header", single chunk). Shared by the client and the test server, so a
 * known-answer test against AWS's published example pins both.
 */
import { createHash, createHmac } from "node:crypto";

export const SIGV4_ALGORITHM = "AWS4-HMAC-SHA256";
/** SHA-256 of the empty string: the payload hash of a request without a body. */
export const EMPTY_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
export const UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD";

export function sha256Hex(data: string | Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

/** AWS's URI encoding: every byte but `A-Za-z0-9-._~` as `%XX` (upper case); `/` kept unless `encodeSlash`. */
export function uriEncode(s: string, encodeSlash = true): string {
  let out = "";
  for (const byte of Buffer.from(s, "utf8")) {
    const c = String.fromCharCode(byte);
    if (/[A-Za-z0-9\-._~]/.test(c) || (c === "/" && !encodeSlash)) out += c;
    else out += `%${byte.toString(16).toUpperCase().padStart(2, "0")}`;
  }
  return out;
}

export interface CanonicalInput {
  method: string;
  /** The decoded path (`/bucket/key`); encoded here once, as S3 wants (no double encoding). */
  path: string;
  /** Decoded query parameters; a valueless one (`?lifecycle`) has the value "". */
  query: [string, string][];
  /** Headers to sign, any case; values are trimmed and inner runs of spaces collapsed. */
  headers: Record<string, string>;
  payloadHash: string;
}

export function canonicalQuery(query: [string, string][]): string {
  return query
    .map(([k, v]) => [uriEncode(k), uriEncode(v)] as const)
    .sort(([a, av], [b, bv]) => (a < b ? -1 : a > b ? 1 : av < bv ? -1 : av > bv ? 1 : 0))
    .map(([k, v]) => `${k}=${v}`)
    .join("&");
}

/** Lower-cased names, sorted, `;`-joined: the `SignedHeaders` value. */
export function signedHeaderNames(headers: Record<string, string>): string {
  return Object.keys(headers)
    .map((h) => h.toLowerCase())
    .sort()
    .join(";");
}

export function canonicalRequest(input: CanonicalInput): string {
  const names = Object.keys(input.headers).sort((a, b) =>
    a.toLowerCase() < b.toLowerCase() ? -1 : 1,
  );
  const headerLines = names
    .map((h) => `${h.toLowerCase()}:${(input.headers[h] ?? "").trim().replace(/ +/g, " ")}\n`)
    .join("");
  return [
    input.method,
    uriEncode(input.path, false),
    canonicalQuery(input.query),
    headerLines,
    signedHeaderNames(input.headers),
    input.payloadHash,
  ].join("\n");
}

/** `YYYYMMDDTHHMMSSZ` of a date. */
export function amzDate(d: Date): string {
  return d
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

export function credentialScope(date: string, region: string, service = "s3"): string {
  return `${date}/${region}/${service}/aws4_request`;
}

export function stringToSign(amzDateTime: string, scope: string, canonical: string): string {
  return [SIGV4_ALGORITHM, amzDateTime, scope, sha256Hex(canonical)].join("\n");
}

export function signingKey(secret: string, date: string, region: string, service = "s3"): Buffer {
  const h = (key: string | Buffer, data: string): Buffer =>
    createHmac("sha256", key).update(data).digest();
  return h(h(h(h(`AWS4${secret}`, date), region), service), "aws4_request");
}

export function signature(key: Buffer, toSign: string): string {
  return createHmac("sha256", key).update(toSign).digest("hex");
}

export interface SignInput extends CanonicalInput {
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  /** `x-amz-date` value; must also be among `headers`. */
  amzDate: string;
}

/** The `Authorization` header for a request whose `headers` already hold `x-amz-date` and `x-amz-content-sha256`. */
export function authorizationHeader(input: SignInput): string {
  const scope = credentialScope(input.amzDate.slice(0, 8), input.region);
  const toSign = stringToSign(input.amzDate, scope, canonicalRequest(input));
  const sig = signature(
    signingKey(input.secretAccessKey, input.amzDate.slice(0, 8), input.region),
    toSign,
  );
  return `${SIGV4_ALGORITHM} Credential=${input.accessKeyId}/${scope},SignedHeaders=${signedHeaderNames(input.headers)},Signature=${sig}`;
}

export interface ParsedAuthorization {
  accessKeyId: string;
  date: string;
  region: string;
  service: string;
  terminator: string;
  signedHeaders: string[];
  signature: string;
}

/** Parses a SigV4 `Authorization` header; null when it is not one. */
export function parseAuthorization(value: string): ParsedAuthorization | null {
  if (!value.startsWith(`${SIGV4_ALGORITHM} `)) return null;
  const fields = new Map<string, string>();
  for (const part of value.slice(SIGV4_ALGORITHM.length + 1).split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) return null;
    fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  const cred = fields.get("Credential")?.split("/");
  const signed = fields.get("SignedHeaders");
  const sig = fields.get("Signature");
  if (!cred || cred.length !== 5 || !signed || !sig) return null;
  const [accessKeyId, date, region, service, terminator] = cred as [
    string,
    string,
    string,
    string,
    string,
  ];
  return {
    accessKeyId,
    date,
    region,
    service,
    terminator,
    signedHeaders: signed.split(";"),
    signature: sig,
  };
}
