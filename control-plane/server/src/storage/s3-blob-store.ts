/**
 * Blobs in an S3-compatible bucket (`@aws-sdk/client-s3`, the SDK's credential chain unless keys
 * are given). An upload is spooled to a temporary file first, so `maxBytes` is enforced before
 * anything reaches the bucket and the object appears only once complete (one PutObject with its
 * length; S3 makes a PUT visible atomically). Keys live under an optional prefix.
 */
import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdtemp, rm, stat } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";
import { NodeHttpHandler } from "@smithy/node-http-handler";
import { z } from "zod";
import { checkBlobKey, type BlobStore } from "./blob-store.js";
import { StorageError } from "./errors.js";

export const s3BlobStoreConfigSchema = z
  .object({
    /** An S3-compatible endpoint (path-style requests); unset: AWS S3 in `region`. */
    endpoint: z.url().optional(),
    bucket: z.string().min(3),
    region: z.string().min(1).default("us-east-1"),
    /** Prepended to every key (`/` added when missing). */
    prefix: z
      .string()
      .default("")
      .transform((p) => (p && !p.endsWith("/") ? `${p}/` : p)),
    /** Static keys; unset, the SDK's credential chain. */
    accessKeyId: z.string().min(1).optional(),
    secretAccessKey: z.string().min(1).optional(),
    timeoutMs: z.number().int().positive().default(60_000),
  })
  .refine((c) => Boolean(c.accessKeyId) === Boolean(c.secretAccessKey), {
    message: "static keys come in pairs (or leave both unset for the SDK's credential chain)",
    path: ["secretAccessKey"],
  });
export type S3BlobStoreConfig = z.input<typeof s3BlobStoreConfigSchema>;

const missing = (err: unknown): boolean => {
  const e = err as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e.name === "NoSuchKey" || e.name === "NotFound" || e.$metadata?.httpStatusCode === 404;
};

export class S3BlobStore implements BlobStore {
  readonly client: S3Client;
  readonly bucket: string;
  readonly #prefix: string;

  constructor(config: S3BlobStoreConfig) {
    const c = s3BlobStoreConfigSchema.parse(config);
    this.bucket = c.bucket;
    this.#prefix = c.prefix;
    this.client = new S3Client({
      region: c.region,
      ...(c.endpoint ? { endpoint: c.endpoint, forcePathStyle: true } : {}),
      ...(c.accessKeyId && c.secretAccessKey
        ? { credentials: { accessKeyId: c.accessKeyId, secretAccessKey: c.secretAccessKey } }
        : {}),
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      requestHandler: new NodeHttpHandler({
        connectionTimeout: c.timeoutMs,
        requestTimeout: c.timeoutMs,
      }),
    });
  }

  /** The object key of a blob key. */
  objectKey(key: string): string {
    return this.#prefix + checkBlobKey(key);
  }

  async put(
    key: string,
    body: Readable,
    opts: { maxBytes?: number } = {},
  ): Promise<{ size: number }> {
    const objectKey = this.objectKey(key);
    const dir = await mkdtemp(path.join(os.tmpdir(), "drover-s3-upload-"));
    const tmp = path.join(dir, randomUUID());
    let size = 0;
    const max = opts.maxBytes ?? Number.POSITIVE_INFINITY;
    const count = new Transform({
      transform(chunk: Buffer, _e, cb) {
        size += chunk.length;
        if (size > max)
          cb(
            new StorageError("DROVER_ERR_STORAGE_TOO_LARGE", `upload is larger than ${max} bytes`),
          );
        else cb(null, chunk);
      },
    });
    try {
      await pipeline(body, count, createWriteStream(tmp));
      const length = (await stat(tmp)).size;
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: objectKey,
          Body: createReadStream(tmp),
          ContentLength: length,
          ContentType: "application/octet-stream",
        }),
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
    return { size };
  }

  async get(key: string): Promise<Readable | undefined> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return out.Body as Readable | undefined;
    } catch (err) {
      if (missing(err)) return undefined;
      throw err;
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      return true;
    } catch (err) {
      if (missing(err)) return false;
      throw err;
    }
  }

  async delete(key: string): Promise<void> {
    await this.client.send(
      new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
    );
  }

  /**
   * A presigned GetObject URL of the blob, valid `expiresInSeconds`, that names the download
   * (`filename`) and its content type. Anyone holding it can read the blob until it expires.
   */
  async presignedGetUrl(
    key: string,
    opts: { expiresInSeconds: number; filename?: string; contentType?: string; signingDate?: Date },
  ): Promise<string> {
    return getSignedUrl(
      this.client,
      new GetObjectCommand({
        Bucket: this.bucket,
        Key: this.objectKey(key),
        ...(opts.filename
          ? {
              ResponseContentDisposition: `attachment; filename*=UTF-8''${encodeURIComponent(opts.filename)}`,
            }
          : {}),
        ...(opts.contentType ? { ResponseContentType: opts.contentType } : {}),
      }),
      {
        expiresIn: opts.expiresInSeconds,
        ...(opts.signingDate ? { signingDate: opts.signingDate } : {}),
      },
    );
  }

  close(): void {
    this.client.destroy();
  }
}
