/**
 * An S3 REST API test server, in memory, following Amazon S3's documented behaviour for what the
 * log store uses: PutObject, GetObject (single `Range`: 206 with `Content-Range`, 416
 * `InvalidRange`), HeadObject, DeleteObject (204 whether or not the key exists), HeadBucket and
 * ListObjectsV2 (`prefix`, `delimiter`, `max-keys` capped at 1000, `start-after`, opaque
 * `continuation-token`, `encoding-type=url`), S3's error XML (`<Error><Code>...`) with S3's status
 * codes, quoted MD5 ETags, and path-style addressing (`/bucket/key`).
 *
 * Every request must carry a valid Signature Version 4 `Authorization` header, checked as S3
 * does: unknown key id 403 `InvalidAccessKeyId`, wrong region or scope 400
 * `AuthorizationHeaderMalformed`, clock skew over 15 minutes 403 `RequestTimeTooSkewed`, unsigned
 * `x-amz-*` headers 403 `AccessDenied`, any other mismatch 403 `SignatureDoesNotMatch` (with the
 * canonical request in the body, as S3 sends it), a body whose SHA-256 differs from
 * `x-amz-content-sha256` 400 `XAmzContentSHA256Mismatch`. Bodies over `maxObjectBytes` are 400
 * `EntityTooLarge`. Presigned GET/HEAD URLs (query authentication) are checked the same way, and
 * expire as S3's do (403 `AccessDenied`, "Request has expired"). Presigned writes, chunked
 * (`STREAMING-*`) payloads, ListObjects v1, multipart uploads and sub-resources (`?acl`,
 * `?tagging`...) answer 501 `NotImplemented`.
 *
 * It stands in for S3 where none can run; the object storage contract suite runs against it and
 * against a real S3 or MinIO when `DROVER_S3_ENDPOINT` is set. `stop()`/`start()` simulate an
 * outage (state is kept); `failNext` injects 503 `SlowDown` answers.
 */
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import {
  canonicalRequest,
  credentialScope,
  parseAuthorization,
  sha256Hex,
  signature,
  signingKey,
  stringToSign,
  UNSIGNED_PAYLOAD,
  uriEncode,
} from "../sigv4.js";
import { el } from "../xml.js";

export interface S3TestServerOptions {
  /** Accepted credentials (default: one generated pair, see `accessKeyId`/`secretAccessKey`). */
  credentials?: { accessKeyId: string; secretAccessKey: string }[];
  /** Buckets that exist (default `["drover-test"]`). */
  buckets?: string[];
  region?: string;
  /** Largest accepted request body (default 32 MiB). */
  maxObjectBytes?: number;
  host?: string;
  port?: number;
}

interface StoredObject {
  body: Buffer;
  etag: string;
  contentType: string;
  lastModified: Date;
  meta: Record<string, string>;
}

/** GetObject's documented header overrides (`response-content-type=...`). */
const RESPONSE_OVERRIDES = new Set([
  "response-content-type",
  "response-content-language",
  "response-expires",
  "response-cache-control",
  "response-content-disposition",
  "response-content-encoding",
]);

class S3Failure extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, string> = {},
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

const NS = "http://s3.amazonaws.com/doc/2006-03-01/";
const MAX_SKEW_MS = 15 * 60 * 1000;

function compareUtf8(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

export class S3TestServer {
  readonly region: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  readonly bucket: string;
  /** Requests served, by operation (`PutObject`, `GetObject`, `ListObjectsV2`...). */
  readonly requests = new Map<string, number>();
  private readonly secrets = new Map<string, string>();
  private readonly buckets = new Map<string, Map<string, StoredObject>>();
  private readonly maxObjectBytes: number;
  private readonly host: string;
  private port: number;
  private server: Server | null = null;
  private readonly sockets = new Set<Socket>();
  private failures = 0;
  private failAfter = 0;

  private constructor(opts: S3TestServerOptions) {
    this.region = opts.region ?? "us-east-1";
    const creds = opts.credentials ?? [
      {
        accessKeyId: `DROVERTEST${randomBytes(5).toString("hex").toUpperCase()}`,
        secretAccessKey: randomBytes(30).toString("base64"),
      },
    ];
    for (const c of creds) this.secrets.set(c.accessKeyId, c.secretAccessKey);
    const first = creds[0];
    if (!first) throw new Error("S3TestServer needs at least one credential");
    this.accessKeyId = first.accessKeyId;
    this.secretAccessKey = first.secretAccessKey;
    const buckets = opts.buckets ?? ["drover-test"];
    for (const b of buckets) this.buckets.set(b, new Map());
    this.bucket = buckets[0] ?? "drover-test";
    this.maxObjectBytes = opts.maxObjectBytes ?? 32 * 1024 * 1024;
    this.host = opts.host ?? "127.0.0.1";
    this.port = opts.port ?? 0;
  }

  static async start(opts: S3TestServerOptions = {}): Promise<S3TestServer> {
    const s = new S3TestServer(opts);
    await s.start();
    return s;
  }

  /** `http://127.0.0.1:<port>`. */
  get url(): string {
    return `http://${this.host}:${this.port}`;
  }

  /** Listens (again, on the same port after `stop`). */
  async start(): Promise<void> {
    if (this.server) return;
    const server = createServer((req, res) => void this.handle(req, res));
    server.on("connection", (s: Socket) => {
      this.sockets.add(s);
      s.once("close", () => this.sockets.delete(s));
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.port, this.host, () => {
        server.off("error", reject);
        resolve();
      });
    });
    this.port = (server.address() as AddressInfo).port;
    this.server = server;
  }

  /** Stops listening and drops every connection; objects are kept for `start`. */
  async stop(): Promise<void> {
    const server = this.server;
    if (!server) return;
    this.server = null;
    for (const s of this.sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }

  close(): Promise<void> {
    return this.stop();
  }

  /** The next `n` requests (after authentication; after `after` more succeed) answer 503 `SlowDown`. */
  failNext(n: number, opts: { after?: number } = {}): void {
    this.failures = n;
    this.failAfter = opts.after ?? 0;
  }

  /** Keys of a bucket, in S3's (UTF-8 binary) order. */
  keys(bucket = this.bucket): string[] {
    return [...(this.buckets.get(bucket)?.keys() ?? [])].sort(compareUtf8);
  }

  private count(op: string): void {
    this.requests.set(op, (this.requests.get(op) ?? 0) + 1);
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const requestId = randomBytes(8).toString("hex").toUpperCase();
    res.setHeader("x-amz-request-id", requestId);
    res.setHeader("x-amz-id-2", randomBytes(24).toString("base64"));
    res.setHeader("server", "DroverS3Test");
    let bodyRead = false;
    let resource = "/";
    try {
      const raw = req.url ?? "/";
      const qi = raw.indexOf("?");
      const rawPath = qi < 0 ? raw : raw.slice(0, qi);
      const rawQuery = qi < 0 ? "" : raw.slice(qi + 1);
      let path: string;
      let query: [string, string][];
      try {
        path = decodeURIComponent(rawPath);
        query = rawQuery
          .split("&")
          .filter(Boolean)
          .map((p) => {
            const eq = p.indexOf("=");
            return eq < 0
              ? [decodeURIComponent(p), ""]
              : [decodeURIComponent(p.slice(0, eq)), decodeURIComponent(p.slice(eq + 1))];
          });
      } catch {
        throw new S3Failure(400, "InvalidURI", "Couldn't parse the specified URI.");
      }
      resource = path;
      const q = new Map(query);
      const method = req.method ?? "GET";
      const payloadHash = this.authenticate(req, method, path, query);

      const body = await this.readBody(req, method);
      bodyRead = true;
      if (payloadHash !== UNSIGNED_PAYLOAD) {
        const computed = sha256Hex(body);
        if (computed !== payloadHash) {
          throw new S3Failure(
            400,
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            { ClientComputedContentSHA256: payloadHash, S3ComputedContentSHA256: computed },
          );
        }
      }
      if (this.failures > 0 && this.failAfter > 0) {
        this.failAfter--;
      } else if (this.failures > 0) {
        this.failures--;
        throw new S3Failure(503, "SlowDown", "Please reduce your request rate.");
      }

      const slash = path.indexOf("/", 1);
      const bucketName = slash < 0 ? path.slice(1) : path.slice(1, slash);
      const key = slash < 0 ? "" : path.slice(slash + 1);
      if (!bucketName) {
        throw new S3Failure(
          501,
          "NotImplemented",
          "ListBuckets is not implemented by this server.",
        );
      }
      const bucket = this.buckets.get(bucketName);
      if (!bucket) {
        throw new S3Failure(404, "NoSuchBucket", "The specified bucket does not exist", {
          BucketName: bucketName,
        });
      }
      if (!key) {
        if (method === "HEAD" && query.length === 0) {
          this.count("HeadBucket");
          res.writeHead(200, { "x-amz-bucket-region": this.region }).end();
          return;
        }
        if (method === "GET" && q.get("list-type") === "2") {
          this.count("ListObjectsV2");
          this.listV2(res, bucketName, bucket, q);
          return;
        }
        throw new S3Failure(
          501,
          "NotImplemented",
          `${method} on a bucket with ?${rawQuery} is not implemented by this server.`,
        );
      }
      // Presigned URLs' parameters and GetObject's response-* overrides are not sub-resources.
      const overrides = new Map(query.filter(([k]) => RESPONSE_OVERRIDES.has(k)));
      if (overrides.size > 0 && method !== "GET" && method !== "HEAD") {
        throw new S3Failure(400, "InvalidRequest", "response-* overrides are for GetObject only");
      }
      const sub = query.filter(
        ([k]) => k !== "x-id" && !k.startsWith("X-Amz-") && !RESPONSE_OVERRIDES.has(k),
      );
      if (sub.length > 0) {
        throw new S3Failure(
          501,
          "NotImplemented",
          `Object sub-resources (?${sub.map(([k]) => k).join("&")}) are not implemented by this server.`,
        );
      }
      switch (method) {
        case "PUT":
          this.count("PutObject");
          this.putObject(req, res, bucket, key, body);
          return;
        case "GET":
        case "HEAD":
          this.count(method === "GET" ? "GetObject" : "HeadObject");
          this.getObject(req, res, bucket, key, method === "HEAD", overrides);
          return;
        case "DELETE":
          this.count("DeleteObject");
          bucket.delete(key);
          res.writeHead(204).end();
          return;
        default:
          throw new S3Failure(
            405,
            "MethodNotAllowed",
            "The specified method is not allowed against this resource.",
            {
              Method: method,
              ResourceType: "OBJECT",
            },
          );
      }
    } catch (err) {
      const f =
        err instanceof S3Failure
          ? err
          : new S3Failure(
              500,
              "InternalError",
              "We encountered an internal error. Please try again.",
            );
      const headers: Record<string, string> = { "content-type": "application/xml", ...f.headers };
      // An unread body would be taken for the next request: close the connection instead.
      if (!bodyRead) headers.connection = "close";
      res.writeHead(f.status, headers);
      if (req.method === "HEAD") {
        res.end();
      } else {
        const extra = Object.entries(f.extra)
          .map(([k, v]) => el(k, v))
          .join("");
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?>\n<Error>${el("Code", f.code)}${el("Message", f.message)}${extra}${el("Resource", resource)}${el("RequestId", requestId)}</Error>`,
        );
      }
      if (!bodyRead) req.resume();
    }
  }

  /**
   * Checks a presigned URL (SigV4 query authentication, GET and HEAD): the `X-Amz-*` parameters,
   * the expiry (`X-Amz-Date` + `X-Amz-Expires`, at most 7 days), and the signature over the
   * canonical request without `X-Amz-Signature` and with an unsigned payload.
   */
  private authenticatePresigned(
    req: IncomingMessage,
    method: string,
    path: string,
    query: [string, string][],
  ): string {
    const q = new Map(query);
    if (method !== "GET" && method !== "HEAD") {
      throw new S3Failure(
        501,
        "NotImplemented",
        "Presigned writes are not implemented by this server.",
      );
    }
    if (q.get("X-Amz-Algorithm") !== "AWS4-HMAC-SHA256") {
      throw new S3Failure(
        400,
        "AuthorizationQueryParametersError",
        'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"',
      );
    }
    const cred = (q.get("X-Amz-Credential") ?? "").split("/");
    const amz = q.get("X-Amz-Date") ?? "";
    const expires = Number(q.get("X-Amz-Expires"));
    const signedHeaders = (q.get("X-Amz-SignedHeaders") ?? "").split(";").filter(Boolean);
    const provided = q.get("X-Amz-Signature") ?? "";
    if (
      cred.length !== 5 ||
      !/^\d{8}T\d{6}Z$/.test(amz) ||
      !Number.isInteger(expires) ||
      !signedHeaders.includes("host") ||
      !/^[0-9a-f]{64}$/.test(provided)
    ) {
      throw new S3Failure(
        400,
        "AuthorizationQueryParametersError",
        "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.",
      );
    }
    if (expires < 1 || expires > 604_800) {
      throw new S3Failure(
        400,
        "AuthorizationQueryParametersError",
        "X-Amz-Expires must be between 1 and 604800 seconds",
      );
    }
    const [accessKeyId = "", date = "", region = "", service = "", terminator = ""] = cred;
    const secret = this.secrets.get(accessKeyId);
    if (!secret) {
      throw new S3Failure(
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
        { AWSAccessKeyId: accessKeyId },
      );
    }
    if (
      region !== this.region ||
      service !== "s3" ||
      terminator !== "aws4_request" ||
      date !== amz.slice(0, 8)
    ) {
      throw new S3Failure(
        400,
        "AuthorizationQueryParametersError",
        `Error parsing the X-Amz-Credential parameter; the region '${region}' is wrong; expecting '${this.region}'`,
        { Region: this.region },
      );
    }
    const signedAt = Date.UTC(
      +amz.slice(0, 4),
      +amz.slice(4, 6) - 1,
      +amz.slice(6, 8),
      +amz.slice(9, 11),
      +amz.slice(11, 13),
      +amz.slice(13, 15),
    );
    const headers: Record<string, string> = {};
    for (const h of signedHeaders) headers[h] = headerValue(req, h) ?? "";
    const canonical = canonicalRequest({
      method,
      path,
      query: query.filter(([k]) => k !== "X-Amz-Signature"),
      headers,
      payloadHash: UNSIGNED_PAYLOAD,
    });
    const toSign = stringToSign(amz, credentialScope(date, region), canonical);
    const expected = Buffer.from(signature(signingKey(secret, date, region), toSign));
    const given = Buffer.from(provided);
    if (expected.length !== given.length || !timingSafeEqual(expected, given)) {
      throw new S3Failure(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        { AWSAccessKeyId: accessKeyId, StringToSign: toSign, CanonicalRequest: canonical },
      );
    }
    if (Date.now() > signedAt + expires * 1000) {
      throw new S3Failure(403, "AccessDenied", "Request has expired", {
        "X-Amz-Expires": String(expires),
        Expires: new Date(signedAt + expires * 1000).toISOString(),
        ServerTime: new Date().toISOString(),
      });
    }
    return UNSIGNED_PAYLOAD;
  }

  /** Checks the SigV4 header auth; returns the declared payload hash. */
  private authenticate(
    req: IncomingMessage,
    method: string,
    path: string,
    query: [string, string][],
  ): string {
    const header = req.headers.authorization;
    if (!header) {
      if (query.some(([k]) => k === "X-Amz-Algorithm")) {
        return this.authenticatePresigned(req, method, path, query);
      }
      throw new S3Failure(403, "AccessDenied", "Access Denied");
    }
    if (header.startsWith("AWS ")) {
      throw new S3Failure(
        400,
        "InvalidRequest",
        "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256.",
      );
    }
    const auth = parseAuthorization(header);
    if (!auth) {
      throw new S3Failure(
        400,
        "AuthorizationHeaderMalformed",
        "The authorization header is malformed; the authorization header requires three components: Credential, SignedHeaders, and Signature.",
      );
    }
    const secret = this.secrets.get(auth.accessKeyId);
    if (secret === undefined) {
      throw new S3Failure(
        403,
        "InvalidAccessKeyId",
        "The AWS Access Key Id you provided does not exist in our records.",
        {
          AWSAccessKeyId: auth.accessKeyId,
        },
      );
    }
    if (auth.region !== this.region) {
      throw new S3Failure(
        400,
        "AuthorizationHeaderMalformed",
        `The authorization header is malformed; the region '${auth.region}' is wrong; expecting '${this.region}'`,
        {
          Region: this.region,
        },
      );
    }
    if (auth.service !== "s3" || auth.terminator !== "aws4_request") {
      throw new S3Failure(
        400,
        "AuthorizationHeaderMalformed",
        `The authorization header is malformed; incorrect service "${auth.service}" or terminator "${auth.terminator}". This endpoint belongs to "s3".`,
      );
    }
    const amz = headerValue(req, "x-amz-date") ?? fromHttpDate(headerValue(req, "date"));
    if (!amz || !/^\d{8}T\d{6}Z$/.test(amz)) {
      throw new S3Failure(
        403,
        "AccessDenied",
        "AWS authentication requires a valid Date or x-amz-date header",
      );
    }
    if (auth.date !== amz.slice(0, 8)) {
      throw new S3Failure(
        400,
        "AuthorizationHeaderMalformed",
        `The authorization header is malformed; Invalid credential date "${auth.date}". This date is not the same as X-Amz-Date: "${amz.slice(0, 8)}".`,
      );
    }
    const when = Date.UTC(
      +amz.slice(0, 4),
      +amz.slice(4, 6) - 1,
      +amz.slice(6, 8),
      +amz.slice(9, 11),
      +amz.slice(11, 13),
      +amz.slice(13, 15),
    );
    if (Math.abs(Date.now() - when) > MAX_SKEW_MS) {
      throw new S3Failure(
        403,
        "RequestTimeTooSkewed",
        "The difference between the request time and the current time is too large.",
        {
          RequestTime: amz,
          ServerTime: new Date().toISOString(),
          MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
        },
      );
    }
    const payloadHash = headerValue(req, "x-amz-content-sha256");
    if (!payloadHash) {
      throw new S3Failure(
        400,
        "InvalidRequest",
        "Missing required header for this request: x-amz-content-sha256",
      );
    }
    if (payloadHash.startsWith("STREAMING-")) {
      throw new S3Failure(
        501,
        "NotImplemented",
        "Chunked (STREAMING-*) payload signing is not implemented by this server.",
      );
    }
    if (payloadHash !== UNSIGNED_PAYLOAD && !/^[0-9a-f]{64}$/.test(payloadHash)) {
      throw new S3Failure(
        400,
        "InvalidArgument",
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-... or a valid sha256 value.",
      );
    }
    const signed = new Set(auth.signedHeaders);
    const unsigned = Object.keys(req.headers).filter(
      (h) => h.startsWith("x-amz-") && !signed.has(h),
    );
    if (!signed.has("host") || unsigned.length > 0) {
      throw new S3Failure(
        403,
        "AccessDenied",
        "There were headers present in the request which were not signed",
        {
          HeadersNotSigned: unsigned.length > 0 ? unsigned.join(", ") : "host",
        },
      );
    }
    const headers: Record<string, string> = {};
    for (const h of auth.signedHeaders) headers[h] = headerValue(req, h) ?? "";
    const canonical = canonicalRequest({ method, path, query, headers, payloadHash });
    const toSign = stringToSign(amz, credentialScope(auth.date, auth.region), canonical);
    const expected = signature(signingKey(secret, auth.date, auth.region), toSign);
    const a = Buffer.from(expected);
    const b = Buffer.from(auth.signature);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      throw new S3Failure(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
        {
          AWSAccessKeyId: auth.accessKeyId,
          StringToSign: toSign,
          SignatureProvided: auth.signature,
          CanonicalRequest: canonical,
        },
      );
    }
    return payloadHash;
  }

  private async readBody(req: IncomingMessage, method: string): Promise<Buffer> {
    const lenHeader = req.headers["content-length"];
    if (method === "PUT" && lenHeader === undefined) {
      throw new S3Failure(
        411,
        "MissingContentLength",
        "You must provide the Content-Length HTTP header.",
      );
    }
    const len = lenHeader === undefined ? 0 : Number(lenHeader);
    if (len > this.maxObjectBytes) {
      throw new S3Failure(
        400,
        "EntityTooLarge",
        "Your proposed upload exceeds the maximum allowed object size.",
        {
          ProposedSize: String(len),
          MaxSizeAllowed: String(this.maxObjectBytes),
        },
      );
    }
    const parts: Buffer[] = [];
    let total = 0;
    for await (const c of req as AsyncIterable<Buffer>) {
      total += c.length;
      if (total > this.maxObjectBytes) {
        throw new S3Failure(
          400,
          "EntityTooLarge",
          "Your proposed upload exceeds the maximum allowed object size.",
          {
            MaxSizeAllowed: String(this.maxObjectBytes),
          },
        );
      }
      parts.push(c);
    }
    return Buffer.concat(parts);
  }

  private putObject(
    req: IncomingMessage,
    res: ServerResponse,
    bucket: Map<string, StoredObject>,
    key: string,
    body: Buffer,
  ): void {
    if (Buffer.byteLength(key) > 1024) {
      throw new S3Failure(400, "KeyTooLongError", "Your key is too long");
    }
    if (req.headers["x-amz-copy-source"]) {
      throw new S3Failure(501, "NotImplemented", "CopyObject is not implemented by this server.");
    }
    const md5 = createHash("md5").update(body);
    const digest = md5.digest();
    const contentMd5 = headerValue(req, "content-md5");
    if (contentMd5 !== undefined) {
      const given = Buffer.from(contentMd5, "base64");
      if (given.length !== 16)
        throw new S3Failure(400, "InvalidDigest", "The Content-MD5 you specified is not valid.");
      if (!given.equals(digest)) {
        throw new S3Failure(
          400,
          "BadDigest",
          "The Content-MD5 you specified did not match what we received.",
        );
      }
    }
    const meta: Record<string, string> = {};
    for (const [h, v] of Object.entries(req.headers)) {
      if (h.startsWith("x-amz-meta-") && typeof v === "string") meta[h] = v;
    }
    const etag = `"${digest.toString("hex")}"`;
    bucket.set(key, {
      body,
      etag,
      contentType: headerValue(req, "content-type") ?? "binary/octet-stream",
      // S3 keeps (and reports) modification times to the second in headers.
      lastModified: new Date(Math.floor(Date.now() / 1000) * 1000),
      meta,
    });
    res.writeHead(200, { etag }).end();
  }

  private getObject(
    req: IncomingMessage,
    res: ServerResponse,
    bucket: Map<string, StoredObject>,
    key: string,
    head: boolean,
    overrides: Map<string, string> = new Map(),
  ): void {
    const obj = bucket.get(key);
    if (!obj)
      throw new S3Failure(404, "NoSuchKey", "The specified key does not exist.", { Key: key });
    const size = obj.body.length;
    const headers: Record<string, string> = {
      etag: obj.etag,
      "last-modified": obj.lastModified.toUTCString(),
      "content-type": obj.contentType,
      "accept-ranges": "bytes",
      ...obj.meta,
    };
    for (const [param, value] of overrides) headers[param.slice("response-".length)] = value;
    const range = parseRange(headerValue(req, "range"), size);
    if (range === "unsatisfiable") {
      throw new S3Failure(
        416,
        "InvalidRange",
        "The requested range is not satisfiable",
        {
          RangeRequested: headerValue(req, "range") ?? "",
          ActualObjectSize: String(size),
        },
        { "content-range": `bytes */${size}` },
      );
    }
    if (range) {
      const [start, end] = range;
      headers["content-range"] = `bytes ${start}-${end}/${size}`;
      headers["content-length"] = String(end - start + 1);
      res.writeHead(206, headers);
      res.end(head ? undefined : obj.body.subarray(start, end + 1));
      return;
    }
    headers["content-length"] = String(size);
    res.writeHead(200, headers);
    res.end(head ? undefined : obj.body);
  }

  private listV2(
    res: ServerResponse,
    name: string,
    bucket: Map<string, StoredObject>,
    q: Map<string, string>,
  ): void {
    const prefix = q.get("prefix") ?? "";
    const delimiter = q.get("delimiter") || undefined;
    const encoding = q.get("encoding-type");
    if (encoding !== undefined && encoding !== "url") {
      throw new S3Failure(400, "InvalidArgument", "Invalid Encoding Method specified in Request", {
        ArgumentName: "encoding-type",
        ArgumentValue: encoding,
      });
    }
    const maxKeysRaw = q.get("max-keys");
    let maxKeys = 1000;
    if (maxKeysRaw !== undefined) {
      if (!/^\d+$/.test(maxKeysRaw)) {
        throw new S3Failure(
          400,
          "InvalidArgument",
          "Provided max-keys not an integer or within integer range",
          {
            ArgumentName: "max-keys",
            ArgumentValue: maxKeysRaw,
          },
        );
      }
      maxKeys = Math.min(1000, Number(maxKeysRaw));
    }
    const token = q.get("continuation-token");
    let after = q.get("start-after") ?? "";
    if (token !== undefined) {
      const decoded = Buffer.from(token, "base64").toString("utf8");
      if (!decoded.startsWith("drover-s3:") || Buffer.from(decoded).toString("base64") !== token) {
        throw new S3Failure(
          400,
          "InvalidArgument",
          "The continuation token provided is incorrect",
          {
            ArgumentName: "continuation-token",
          },
        );
      }
      after = decoded.slice("drover-s3:".length);
    }
    const enc = (s: string): string => (encoding === "url" ? uriEncode(s, false) : s);
    const contents: string[] = [];
    const prefixes: string[] = [];
    const seenPrefixes = new Set<string>();
    let last = "";
    let truncated = false;
    for (const key of [...bucket.keys()].sort(compareUtf8)) {
      if (!key.startsWith(prefix) || (after && compareUtf8(key, after) <= 0)) continue;
      let common: string | null = null;
      if (delimiter) {
        const i = key.indexOf(delimiter, prefix.length);
        if (i >= 0) common = key.slice(0, i + delimiter.length);
      }
      if (common !== null && seenPrefixes.has(common)) {
        last = key;
        continue;
      }
      if (contents.length + prefixes.length >= maxKeys) {
        truncated = true;
        break;
      }
      if (common !== null) {
        seenPrefixes.add(common);
        prefixes.push(`<CommonPrefixes>${el("Prefix", enc(common))}</CommonPrefixes>`);
      } else {
        const o = bucket.get(key) as StoredObject;
        contents.push(
          `<Contents>${el("Key", enc(key))}${el("LastModified", o.lastModified.toISOString())}${el("ETag", o.etag)}${el("Size", o.body.length)}${el("StorageClass", "STANDARD")}</Contents>`,
        );
      }
      last = key;
    }
    const next = truncated ? Buffer.from(`drover-s3:${last}`).toString("base64") : undefined;
    const xml =
      `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="${NS}">` +
      el("Name", name) +
      el("Prefix", enc(prefix)) +
      (delimiter ? el("Delimiter", enc(delimiter)) : "") +
      el("MaxKeys", maxKeys) +
      (encoding ? el("EncodingType", encoding) : "") +
      el("KeyCount", contents.length + prefixes.length) +
      el("IsTruncated", truncated) +
      contents.join("") +
      prefixes.join("") +
      el("ContinuationToken", token) +
      el("NextContinuationToken", next) +
      (q.has("start-after") ? el("StartAfter", enc(q.get("start-after") ?? "")) : "") +
      "</ListBucketResult>";
    res.writeHead(200, { "content-type": "application/xml" }).end(xml);
  }
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v.join(",") : v;
}

function fromHttpDate(v: string | undefined): string | undefined {
  if (!v) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t)
    ? undefined
    : new Date(t)
        .toISOString()
        .replace(/[-:]/g, "")
        .replace(/\.\d{3}/, "");
}

/**
 * One `bytes=` range as S3 reads it: `a-b` (b clamped to the last byte), `a-`, `-n` (the last n).
 * Null (the whole object) for no or an unparsable header or several ranges; "unsatisfiable" when
 * it starts past the end or asks for the last 0 bytes.
 */
function parseRange(
  h: string | undefined,
  size: number,
): [number, number] | "unsatisfiable" | null {
  if (!h) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(h.trim());
  if (!m || (m[1] === "" && m[2] === "")) return null;
  if (m[1] === "") {
    const n = Number(m[2]);
    if (n === 0 || size === 0) return "unsatisfiable";
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(m[1]);
  if (m[2] !== "" && Number(m[2]) < start) return null; // invalid: ignored, as HTTP says
  if (start >= size) return "unsatisfiable";
  return [start, m[2] === "" ? size - 1 : Math.min(Number(m[2]), size - 1)];
}
