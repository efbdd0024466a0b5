import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client as SdkS3Client,
} from "@aws-sdk/client-s3";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { OutputError } from "../errors.js";
import { hasControlChars } from "./chars.js";
import { parseS3Config, type S3Config, type S3ConfigInput } from "./config.js";

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
 * The object storage client: `@aws-sdk/client-s3` with the SDK's standard credential chain
 * (environment, shared config, web identity/IRSA, instance profile) unless keys are configured,
 * path-style addressing for S3-compatible endpoints, PutObject, GetObject (ranged), HeadObject,
 * DeleteObject and ListObjectsV2. Keys are relative to the configured prefix. Every call is
 * idempotent and retried by the SDK (network errors, 5xx, throttling; a skewed clock is corrected).
 * Failures are `ObjectStoreError`s carrying S3's status and code.
 */
export class S3Client {
  readonly config: S3Config;
  readonly #sdk: SdkS3Client;

  constructor(config: S3ConfigInput, opts: { now?: () => Date } = {}) {
    this.config = parseS3Config(config);
    const { endpoint, region, accessKeyId, secretAccessKey, timeoutMs, maxRetries } = this.config;
    this.#sdk = new SdkS3Client({
      region,
      ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
      ...(accessKeyId && secretAccessKey ? { credentials: { accessKeyId, secretAccessKey } } : {}),
      maxAttempts: maxRetries + 1,
      // Checksums only where S3 requires them: S3-compatible stores differ in the rest.
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: new NodeHttpHandler({
        connectionTimeout: timeoutMs,
        requestTimeout: timeoutMs,
      }),
      ...(opts.now ? { systemClockOffset: opts.now().getTime() - Date.now() } : {}),
    });
  }

  /** Closes the client's connections. */
  close(): void {
    this.#sdk.destroy();
  }

  async put(
    key: string,
    body: string | Uint8Array,
    opts: { contentType?: string } = {},
  ): Promise<{ etag: string }> {
    const res = await this.call("PUT", key, () =>
      this.#sdk.send(
        new PutObjectCommand({
          Bucket: this.config.bucket,
          Key: this.full(key),
          Body: typeof body === "string" ? Buffer.from(body) : body,
          ContentType: opts.contentType ?? "application/octet-stream",
        }),
      ),
    );
    return { etag: res.ETag ?? "" };
  }

  /** The object (or a range of it); null when there is no such key. */
  async get(key: string, range?: ByteRange): Promise<GetResult | null> {
    const header = range
      ? "suffix" in range
        ? `bytes=-${range.suffix}`
        : `bytes=${range.start}-${range.end === undefined ? "" : range.end}`
      : undefined;
    const res = await this.call(
      "GET",
      key,
      async () => {
        const out = await this.#sdk.send(
          new GetObjectCommand({
            Bucket: this.config.bucket,
            Key: this.full(key),
            ...(header ? { Range: header } : {}),
          }),
        );
        return { out, body: Buffer.from((await out.Body?.transformToByteArray()) ?? []) };
      },
      ["NoSuchKey"],
    );
    if (!res) return null;
    const { out, body } = res;
    const cr = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(out.ContentRange ?? "");
    if (cr) {
      return {
        body,
        etag: out.ETag ?? "",
        size: Number(cr[3]),
        range: { start: Number(cr[1]), end: Number(cr[2]) },
      };
    }
    return { body, etag: out.ETag ?? "", size: body.length, range: null };
  }

  /** Size, ETag and modification time; null when there is no such key. */
  async head(key: string): Promise<ObjectInfo | null> {
    const res = await this.call(
      "HEAD",
      key,
      () =>
        this.#sdk.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: this.full(key) })),
      ["NoSuchKey", "NotFound"],
    );
    if (!res) return null;
    return {
      key,
      size: res.ContentLength ?? 0,
      etag: res.ETag ?? "",
      lastModified: res.LastModified ?? new Date(0),
    };
  }

  /** Deletes the key (a missing key is not an error, as in S3). */
  async delete(key: string): Promise<void> {
    await this.call("DELETE", key, () =>
      this.#sdk.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: this.full(key) })),
    );
  }

  /** One ListObjectsV2 page. */
  async listPage(
    prefix: string,
    opts: { continuationToken?: string; maxKeys?: number; startAfter?: string } = {},
  ): Promise<{ objects: ObjectInfo[]; nextContinuationToken: string | null }> {
    validateKey(prefix, "prefix", true);
    if (opts.startAfter !== undefined) validateKey(opts.startAfter, "start-after", true);
    const res = await this.call(`LIST ${prefix}*`, null, () =>
      this.#sdk.send(
        new ListObjectsV2Command({
          Bucket: this.config.bucket,
          Prefix: this.config.prefix + prefix,
          ...(opts.continuationToken ? { ContinuationToken: opts.continuationToken } : {}),
          ...(opts.maxKeys !== undefined ? { MaxKeys: opts.maxKeys } : {}),
          ...(opts.startAfter !== undefined
            ? { StartAfter: this.config.prefix + opts.startAfter }
            : {}),
        }),
      ),
    );
    const strip = this.config.prefix.length;
    return {
      objects: (res.Contents ?? []).map((c) => ({
        key: (c.Key ?? "").slice(strip),
        size: c.Size ?? 0,
        etag: c.ETag ?? "",
        lastModified: c.LastModified ?? new Date(0),
      })),
      nextContinuationToken: res.IsTruncated ? (res.NextContinuationToken ?? null) : null,
    };
  }

  /** Every object under `prefix`, in key order (following continuation tokens). */
  async list(prefix: string, opts: { pageSize?: number } = {}): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    let token: string | undefined;
    do {
      const page = await this.listPage(prefix, {
        ...(token ? { continuationToken: token } : {}),
        ...(opts.pageSize !== undefined ? { maxKeys: opts.pageSize } : {}),
      });
      out.push(...page.objects);
      token = page.nextContinuationToken ?? undefined;
    } while (token);
    return out;
  }

  private full(key: string): string {
    validateKey(key);
    return this.config.prefix + key;
  }

  /**
   * Runs one SDK call (retried by the SDK). Resolves with its result, with null when S3 answered
   * 404 with one of `nullCodes`, and throws `ObjectStoreError` otherwise.
   */
  private async call<T>(op: string, key: string | null, fn: () => Promise<T>): Promise<T>;
  private async call<T>(
    op: string,
    key: string | null,
    fn: () => Promise<T>,
    nullCodes: string[],
  ): Promise<T | null>;
  private async call<T>(
    op: string,
    key: string | null,
    fn: () => Promise<T>,
    nullCodes?: string[],
  ): Promise<T | null> {
    if (key !== null) validateKey(key);
    const { bucket, prefix, endpoint } = this.config;
    const what = `${op} ${bucket}/${key === null ? prefix : prefix + key}`;
    try {
      return await fn();
    } catch (err) {
      if (err instanceof ObjectStoreError) throw err;
      const meta = (err as { $metadata?: { httpStatusCode?: number; attempts?: number } })
        .$metadata;
      const status = meta?.httpStatusCode ?? null;
      const attempts = meta?.attempts ?? this.config.maxRetries + 1;
      if (status === null) {
        const why = err instanceof Error ? err.message : String(err);
        throw new ObjectStoreError(
          `object storage unreachable at ${endpoint ?? `S3 (${this.config.region})`} (${what}, ${attempts} attempts): ${why}`,
          null,
          null,
          { cause: err },
        );
      }
      const code =
        (err as { Code?: string }).Code ?? (err instanceof Error ? err.name : null) ?? null;
      if (status === 404 && nullCodes && code && nullCodes.includes(code)) return null;
      const message = err instanceof Error ? err.message : String(err);
      const hint =
        code && CREDENTIAL_CODES.has(code)
          ? " (check AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and the region)"
          : "";
      throw new ObjectStoreError(
        `object storage refused ${what}: ${status} ${code ?? "error"}: ${message}${hint}`,
        status,
        code,
        { cause: err },
      );
    }
  }
}
