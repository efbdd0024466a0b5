import { randomUUID } from "node:crypto";
import { S3Client, sigv4, type S3ConfigInput } from "@drover/output-processor/objstore";
import { S3TestServer } from "../../src/objstore/testing/s3-server.js";

/**
 * Where the object storage tests run: the S3 test server, or a real S3/MinIO when
 * `DROVER_S3_ENDPOINT` (+ `DROVER_S3_BUCKET`, `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`,
 * `AWS_REGION`) is set. Each target gets a fresh key prefix.
 */
export interface S3Target {
  config: S3ConfigInput & { prefix: string; region: string; bucket: string };
  /** The test server (null against a real endpoint). */
  server: S3TestServer | null;
  client: S3Client;
  close(): Promise<void>;
}

export async function s3Target(
  opts: { maxObjectBytes?: number; testServer?: boolean } = {},
): Promise<S3Target> {
  const prefix = `drover-test-${randomUUID()}/`;
  const endpoint = process.env.DROVER_S3_ENDPOINT;
  if (endpoint && !opts.testServer) {
    const config = {
      endpoint,
      bucket: process.env.DROVER_S3_BUCKET ?? "",
      region: process.env.AWS_REGION ?? "us-east-1",
      accessKeyId: process.env.AWS_ACCESS_KEY_ID ?? "",
      secretAccessKey: process.env.AWS_SECRET_ACCESS_KEY ?? "",
      prefix,
    };
    const client = new S3Client(config);
    return {
      config,
      server: null,
      client,
      close: async () => {
        for (const o of await client.list("")) await client.delete(o.key);
      },
    };
  }
  const server = await S3TestServer.start({ maxObjectBytes: opts.maxObjectBytes });
  const config = {
    endpoint: server.url,
    bucket: server.bucket,
    region: server.region,
    accessKeyId: server.accessKeyId,
    secretAccessKey: server.secretAccessKey,
    prefix,
  };
  return { config, server, client: new S3Client(config), close: () => server.close() };
}

/** One signed request built by hand (to look at statuses, headers and error bodies). */
export async function rawRequest(
  t: S3Target,
  method: string,
  key: string | null,
  opts: {
    query?: [string, string][];
    headers?: Record<string, string>;
    body?: Buffer;
    secret?: string;
    accessKeyId?: string;
    region?: string;
    /** Declared payload hash (default: the body's). */
    payloadHash?: string;
    /** Sent but left out of the signature. */
    unsignedHeaders?: Record<string, string>;
    bucket?: string;
  } = {},
): Promise<{ status: number; headers: Headers; text: string }> {
  const url = new URL(t.config.endpoint);
  const bucket = opts.bucket ?? t.config.bucket;
  const path = key === null ? `/${bucket}` : `/${bucket}/${t.config.prefix}${key}`;
  const date = sigv4.amzDate(new Date());
  const payloadHash = opts.payloadHash ?? sigv4.sha256Hex(opts.body ?? "");
  const headers: Record<string, string> = {
    host: url.host,
    "x-amz-date": date,
    "x-amz-content-sha256": payloadHash,
    ...opts.headers,
  };
  const query = opts.query ?? [];
  const authorization = sigv4.authorizationHeader({
    method,
    path,
    query,
    headers,
    payloadHash,
    accessKeyId: opts.accessKeyId ?? t.config.accessKeyId,
    secretAccessKey: opts.secret ?? t.config.secretAccessKey,
    region: opts.region ?? t.config.region,
    amzDate: date,
  });
  const qs = sigv4.canonicalQuery(query);
  const sent = Object.fromEntries(Object.entries(headers).filter(([h]) => h !== "host"));
  const res = await fetch(`${url.origin}${sigv4.uriEncode(path, false)}${qs ? `?${qs}` : ""}`, {
    method,
    headers: { ...sent, ...opts.unsignedHeaders, authorization },
    body: opts.body,
  });
  return {
    status: res.status,
    headers: res.headers,
    text: method === "HEAD" ? "" : await res.text(),
  };
}

/** `<Code>` of an S3 error body. */
export function errorCode(xml: string): string | null {
  return /<Code>([^<]*)<\/Code>/.exec(xml)?.[1] ?? null;
}
