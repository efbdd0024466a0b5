import { setTimeout as sleep } from "node:timers/promises";
import { OutputError } from "../errors.js";
import { hasControlChars } from "./chars.js";
import { parseS3Config, type S3Config, type S3ConfigInput } from "./config.js";
import { amzDate, authorizationHeader, canonicalQuery, sha256Hex, uriEncode } from "./sigv4.js";
import { xmlBlocks, xmlText } from "./xml.js";

/** An S3 request that failed: `status` and S3's `<Code>` (`s3Code`) say how. */
export class ObjectStoreError extends OutputError {
  constructor(
    message: string,
    readonly status: number | null,
    readonly s3Code: string | null,
    options?: { cause?: unknown },
  ) {
    super("DROVER_ERR_OUTPUT_OBJSTORE", message, options);
    this.name = "ObjectStoreError";
  }
}

export interface ObjectInfo {
  /** Relative to the configured prefix. */
  key: string;
  size: number;
  etag: string;
  lastModified: Date;
}

export interface GetResult {
  body: Buffer;
  etag: string;
  /** The whole object's size (also for a range). */
  size: number;
  /** The bytes returned (inclusive), for a ranged read. */
  range: { start: number; end: number } | null;
}

/** `{start, end}` (inclusive, `end` defaults to the last byte) or the last `suffix` bytes. */
export type ByteRange = { start: number; end?: number } | { suffix: number };

const CREDENTIAL_CODES = new Set([
  "InvalidAccessKeyId",
  "SignatureDoesNotMatch",
  "AccessDenied",
  "AuthorizationHeaderMalformed",
]);

/** Throws unless `key` is a safe object key: no leading `/`, no `.`/`..`/empty segment, no control characters. */
export function validateKey(key: string, what = "key", allowTrailingSlash = false): void {
  const bad = (why: string): never => {
    throw new ObjectStoreError(`invalid object ${what} ${JSON.stringify(key)}: ${why}`, null, null);
  };
  if (hasControlChars(key)) bad("control characters");
  if (key.startsWith("/")) bad("leading /");
  if (Buffer.byteLength(key) > 1024) bad("longer than 1024 bytes");
  const segments = key.split("/");
  if (allowTrailingSlash && segments[segments.length - 1] === "") segments.pop();
  for (const s of segments) {
    if (s === "" && what === "key") bad("empty path segment");
    if (s === "." || s === "..") bad(`"${s}" path segment`);
  }
  if (what === "key" && key === "") bad("empty");
}

/**
 * A small S3 client (no SDK): SigV4 header auth with a signed payload hash, path-style URLs
 * (`endpoint/bucket/key`), PutObject, GetObject (ranged), HeadObject, DeleteObject and
 * ListObjectsV2. Keys are relative to the configured prefix. Every call is idempotent and retried
 * with backoff on network errors and 5xx answers.
 */
export class S3Client {
  readonly config: S3Config;

  constructor(
    config: S3ConfigInput,
    private readonly opts: { now?: () => Date; retryBaseMs?: number } = {},
  ) {
    this.config = parseS3Config(config);
  }

  async put(
    key: string,
    body: string | Uint8Array,
    opts: { contentType?: string } = {},
  ): Promise<{ etag: string }> {
    const buf = typeof body === "string" ? Buffer.from(body) : Buffer.from(body);
    const headers: Record<string, string> = {
      "content-type": opts.contentType ?? "application/octet-stream",
    };
    const res = await this.request("PUT", key, [], headers, buf);
    return { etag: res.headers.get("etag") ?? "" };
  }

  /** The object (or a range of it); null when there is no such key. */
  async get(key: string, range?: ByteRange): Promise<GetResult | null> {
    const headers: Record<string, string> = {};
    if (range) {
      headers.range =
        "suffix" in range
          ? `bytes=-${range.suffix}`
          : `bytes=${range.start}-${range.end === undefined ? "" : range.end}`;
    }
    const res = await this.request("GET", key, [], headers, null, ["NoSuchKey"]);
    if (!res) return null;
    const body = Buffer.from(await res.arrayBuffer());
    const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(res.headers.get("content-range") ?? "");
    if (res.status === 206 && cr) {
      return {
        body,
        etag: res.headers.get("etag") ?? "",
        size: Number(cr[3]),
        range: { start: Number(cr[1]), end: Number(cr[2]) },
      };
    }
    return { body, etag: res.headers.get("etag") ?? "", size: body.length, range: null };
  }

  /** Size, ETag and modification time; null when there is no such key. */
  async head(key: string): Promise<ObjectInfo | null> {
    const res = await this.request("HEAD", key, [], {}, null, ["NoSuchKey", "NotFound"]);
    if (!res) return null;
    return {
      key,
      size: Number(res.headers.get("content-length") ?? 0),
      etag: res.headers.get("etag") ?? "",
      lastModified: new Date(res.headers.get("last-modified") ?? 0),
    };
  }

  /** Deletes the key (a missing key is not an error, as in S3). */
  async delete(key: string): Promise<void> {
    const res = await this.request("DELETE", key, [], {}, null);
    await res.arrayBuffer();
  }

  /** One ListObjectsV2 page. */
  async listPage(
    prefix: string,
    opts: { continuationToken?: string; maxKeys?: number; startAfter?: string } = {},
  ): Promise<{ objects: ObjectInfo[]; nextContinuationToken: string | null }> {
    validateKey(prefix, "prefix", true);
    if (opts.startAfter !== undefined) validateKey(opts.startAfter, "start-after", true);
    const query: [string, string][] = [
      ["list-type", "2"],
      ["prefix", this.config.prefix + prefix],
    ];
    if (opts.continuationToken) query.push(["continuation-token", opts.continuationToken]);
    if (opts.maxKeys !== undefined) query.push(["max-keys", String(opts.maxKeys)]);
    if (opts.startAfter !== undefined) {
      query.push(["start-after", this.config.prefix + opts.startAfter]);
    }
    const res = await this.request("GET", null, query, {}, null);
    const xml = await res.text();
    const strip = this.config.prefix.length;
    const objects = xmlBlocks(xml, "Contents").map((c) => ({
      key: (xmlText(c, "Key") ?? "").slice(strip),
      size: Number(xmlText(c, "Size") ?? 0),
      etag: xmlText(c, "ETag") ?? "",
      lastModified: new Date(xmlText(c, "LastModified") ?? 0),
    }));
    const truncated = xmlText(xml, "IsTruncated") === "true";
    return {
      objects,
      nextContinuationToken: truncated ? xmlText(xml, "NextContinuationToken") : null,
    };
  }

  /** Every object under `prefix`, in key order (following continuation tokens). */
  async list(prefix: string, opts: { pageSize?: number } = {}): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.listPage(prefix, {
        continuationToken: token,
        maxKeys: opts.pageSize,
      });
      out.push(...page.objects);
      token = page.nextContinuationToken ?? undefined;
    } while (token);
    return out;
  }

  /**
   * Signs and sends one request, retrying network errors and 5xx. Resolves with the response on
   * 2xx, with null when S3 answered 404 with one of `nullCodes`, and throws `ObjectStoreError`
   * otherwise.
   */
  private async request(
    method: string,
    key: string | null,
    query: [string, string][],
    extraHeaders: Record<string, string>,
    body: Buffer | null,
  ): Promise<Response>;
  private async request(
    method: string,
    key: string | null,
    query: [string, string][],
    extraHeaders: Record<string, string>,
    body: Buffer | null,
    nullCodes: string[],
  ): Promise<Response | null>;
  private async request(
    method: string,
    key: string | null,
    query: [string, string][],
    extraHeaders: Record<string, string>,
    body: Buffer | null,
    nullCodes?: string[],
  ): Promise<Response | null> {
    if (key !== null) validateKey(key);
    const { endpoint, bucket, prefix } = this.config;
    const path = key === null ? `/${bucket}` : `/${bucket}/${prefix}${key}`;
    const what = `${method} ${key === null ? `${bucket} (${prefix}${query.find((q) => q[0] === "prefix")?.[1] ?? ""}*)` : `${bucket}/${prefix}${key}`}`;
    const retryBase = this.opts.retryBaseMs ?? 100;
    for (let attempt = 0; ; attempt++) {
      let res: Response;
      try {
        res = await this.send(endpoint, method, path, query, extraHeaders, body);
      } catch (err) {
        if (attempt < this.config.maxRetries) {
          await sleep(backoff(retryBase, attempt));
          continue;
        }
        const why =
          err instanceof Error
            ? err.cause instanceof Error
              ? err.cause.message
              : err.message
            : String(err);
        throw new ObjectStoreError(
          `object storage unreachable at ${endpoint} (${what}, ${attempt + 1} attempts): ${why}`,
          null,
          null,
          { cause: err },
        );
      }
      if (res.status < 300) return res;
      const text = method === "HEAD" ? "" : await res.text().catch(() => "");
      const code = xmlText(text, "Code") ?? (res.status === 404 ? "NotFound" : null);
      if (res.status >= 500 && attempt < this.config.maxRetries) {
        await sleep(backoff(retryBase, attempt));
        continue;
      }
      if (res.status === 404 && nullCodes && code && nullCodes.includes(code)) return null;
      const message = xmlText(text, "Message") ?? res.statusText;
      const hint =
        code && CREDENTIAL_CODES.has(code)
          ? " (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the region)"
          : "";
      throw new ObjectStoreError(
        `object storage refused ${what}: ${res.status} ${code ?? "error"}: ${message}${hint}`,
        res.status,
        code,
      );
    }
  }

  private async send(
    endpoint: string,
    method: string,
    path: string,
    query: [string, string][],
    extraHeaders: Record<string, string>,
    body: Buffer | null,
  ): Promise<Response> {
    const url = new URL(endpoint);
    const date = amzDate(this.opts.now?.() ?? new Date());
    const payloadHash = sha256Hex(body ?? "");
    const headers: Record<string, string> = {
      host: url.host,
      "x-amz-date": date,
      "x-amz-content-sha256": payloadHash,
      ...extraHeaders,
    };
    const authorization = authorizationHeader({
      method,
      path,
      query,
      headers,
      payloadHash,
      accessKeyId: this.config.accessKeyId,
      secretAccessKey: this.config.secretAccessKey,
      region: this.config.region,
      amzDate: date,
    });
    // fetch sets Host itself, from the URL: the value signed above.
    const sent = Object.fromEntries(Object.entries(headers).filter(([h]) => h !== "host"));
    const qs = canonicalQuery(query);
    return fetch(`${url.origin}${uriEncode(path, false)}${qs ? `?${qs}` : ""}`, {
      method,
      headers: { ...sent, authorization },
      body: body ?? undefined,
      signal: AbortSignal.timeout(this.config.timeoutMs),
    });
  }
}

function backoff(base: number, attempt: number): number {
  return base * 2 ** attempt * (0.5 + Math.random() / 2);
}
