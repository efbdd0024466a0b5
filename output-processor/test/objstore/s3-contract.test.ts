import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ObjectStoreError, S3Client } from "@drover/output-processor/objstore";
import type { S3TestServer } from "../../src/objstore/testing/s3-server.js";
import { errorCode, rawRequest, s3Target, type S3Target } from "./target.js";

// The S3 contract the log store relies on. Runs against the S3 test server, or against a real
// S3/MinIO when DROVER_S3_ENDPOINT is set: the same assertions either way.

async function rejection(p: Promise<unknown>): Promise<ObjectStoreError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ObjectStoreError);
  return err as ObjectStoreError;
}

describe("S3 contract", () => {
  let t: S3Target;
  beforeAll(async () => {
    t = await s3Target();
  });
  afterAll(() => t.close());

  it("puts and gets objects with S3's ETag, and heads them", async () => {
    const body = Buffer.from("hello, object storage\n".repeat(100));
    const md5 = `"${createHash("md5").update(body).digest("hex")}"`;
    const put = await t.client.put("a/obj.txt", body, { contentType: "text/plain" });
    expect(put.etag).toBe(md5);
    const got = await t.client.get("a/obj.txt");
    expect(got?.body.equals(body)).toBe(true);
    expect(got?.etag).toBe(md5);
    expect(got?.range).toBeNull();
    const head = await t.client.head("a/obj.txt");
    expect(head?.size).toBe(body.length);
    expect(head?.etag).toBe(md5);
    expect(Math.abs((head?.lastModified.getTime() ?? 0) - Date.now())).toBeLessThan(120_000);
    // Overwrite replaces the whole object.
    await t.client.put("a/obj.txt", "short");
    expect((await t.client.get("a/obj.txt"))?.body.toString()).toBe("short");
  });

  it("reads ranges as 206 with Content-Range and refuses unsatisfiable ones with 416", async () => {
    await t.client.put("r/digits", "0123456789");
    const mid = await t.client.get("r/digits", { start: 2, end: 5 });
    expect(mid?.body.toString()).toBe("2345");
    expect(mid?.range).toEqual({ start: 2, end: 5 });
    expect(mid?.size).toBe(10);
    expect((await t.client.get("r/digits", { start: 7 }))?.body.toString()).toBe("789");
    expect((await t.client.get("r/digits", { suffix: 3 }))?.body.toString()).toBe("789");
    const clamped = await t.client.get("r/digits", { start: 8, end: 100 });
    expect(clamped?.body.toString()).toBe("89");
    expect(clamped?.range).toEqual({ start: 8, end: 9 });
    const err = await rejection(t.client.get("r/digits", { start: 10 }));
    expect(err.status).toBe(416);
    expect(err.s3Code).toBe("InvalidRange");
    expect(err.code).toBe("DROVER_ERR_OUTPUT_OBJSTORE");
    const raw = await rawRequest(t, "GET", "r/digits", { headers: { range: "bytes=20-30" } });
    expect(raw.status).toBe(416);
    expect(errorCode(raw.text)).toBe("InvalidRange");
    if (t.server) expect(raw.headers.get("content-range")).toBe("bytes */10");
  });

  it("answers a missing key with null (404 NoSuchKey in S3's error XML)", async () => {
    expect(await t.client.get("nope/missing")).toBeNull();
    expect(await t.client.head("nope/missing")).toBeNull();
    const raw = await rawRequest(t, "GET", "nope/missing");
    expect(raw.status).toBe(404);
    expect(raw.headers.get("content-type")).toContain("xml");
    expect(raw.headers.get("x-amz-request-id")).toBeTruthy();
    expect(raw.text).toMatch(/^<\?xml[^>]*>\s*<Error>/);
    expect(errorCode(raw.text)).toBe("NoSuchKey");
    const head = await rawRequest(t, "HEAD", "nope/missing");
    expect(head.status).toBe(404);
  });

  it("deletes with 204, whether or not the key exists", async () => {
    await t.client.put("d/x", "x");
    expect((await rawRequest(t, "DELETE", "d/x")).status).toBe(204);
    expect(await t.client.get("d/x")).toBeNull();
    expect((await rawRequest(t, "DELETE", "d/never")).status).toBe(204);
    await t.client.delete("d/never");
  });

  it("lists with ListObjectsV2: prefix, max-keys, continuation, delimiter, key order", async () => {
    const keys = ["l/06", "l/00", "l/03", "l/01", "l/05", "l/02", "l/04"];
    for (const k of keys) await t.client.put(k, k);
    await t.client.put("lx/other", "o");
    const all = await t.client.list("l/", { pageSize: 3 });
    expect(all.map((o) => o.key)).toEqual([...keys].sort());
    expect(all[0]?.size).toBe(4);
    expect(all[0]?.etag).toBe(`"${createHash("md5").update("l/00").digest("hex")}"`);
    const p1 = await t.client.listPage("l/", { maxKeys: 3 });
    expect(p1.objects.map((o) => o.key)).toEqual(["l/00", "l/01", "l/02"]);
    expect(p1.nextContinuationToken).toBeTruthy();
    const p2 = await t.client.listPage("l/", {
      maxKeys: 3,
      continuationToken: p1.nextContinuationToken ?? "",
    });
    expect(p2.objects.map((o) => o.key)).toEqual(["l/03", "l/04", "l/05"]);
    const after = await t.client.listPage("l/", { startAfter: "l/04" });
    expect(after.objects.map((o) => o.key)).toEqual(["l/05", "l/06"]);
    expect(after.nextContinuationToken).toBeNull();
    expect((await t.client.list("l/")).length).toBe(7);
    expect(await t.client.list("nothing-here/")).toEqual([]);

    const raw = await rawRequest(t, "GET", null, {
      query: [
        ["list-type", "2"],
        ["prefix", t.config.prefix],
        ["delimiter", "/"],
      ],
    });
    expect(raw.status).toBe(200);
    expect(raw.text).toContain("<ListBucketResult");
    expect(raw.text).toContain(`<Name>${t.config.bucket}</Name>`);
    expect(raw.text).toContain(
      `<CommonPrefixes><Prefix>${t.config.prefix}l/</Prefix></CommonPrefixes>`,
    );
    expect(raw.text).toContain(
      `<CommonPrefixes><Prefix>${t.config.prefix}lx/</Prefix></CommonPrefixes>`,
    );
    expect(raw.text).toMatch(/<IsTruncated>false<\/IsTruncated>/);

    const badToken = await rawRequest(t, "GET", null, {
      query: [
        ["list-type", "2"],
        ["continuation-token", "not-a-token"],
      ],
    });
    expect(badToken.status).toBe(400);
    expect(errorCode(badToken.text)).toBe("InvalidArgument");
    const badMax = await rawRequest(t, "GET", null, {
      query: [
        ["list-type", "2"],
        ["max-keys", "many"],
      ],
    });
    expect(badMax.status).toBe(400);
    expect(errorCode(badMax.text)).toBe("InvalidArgument");
  });

  it("keeps keys that need encoding intact (signing, URL and listing)", async () => {
    const key = "enc/sp ace+plus&amp=eq$dollar/ü-ß~(1).txt";
    await t.client.put(key, "odd");
    expect((await t.client.get(key))?.body.toString()).toBe("odd");
    expect((await t.client.list("enc/")).map((o) => o.key)).toEqual([key]);
  });

  it("refuses bad credentials, unsigned requests, a wrong region, clock skew and a wrong payload hash", async () => {
    const wrongSecret = new S3Client({ ...t.config, secretAccessKey: "not-the-secret-0123456789" });
    const e1 = await rejection(wrongSecret.put("c/x", "x"));
    expect([e1.status, e1.s3Code]).toEqual([403, "SignatureDoesNotMatch"]);
    expect(e1.message).toContain("AWS_SECRET_ACCESS_KEY");
    const unknown = new S3Client({ ...t.config, accessKeyId: "AKIANOSUCHKEY0000000" });
    const e2 = await rejection(unknown.get("c/x"));
    expect([e2.status, e2.s3Code]).toEqual([403, "InvalidAccessKeyId"]);
    const skewed = new S3Client(t.config, { now: () => new Date(Date.now() - 20 * 60_000) });
    const e3 = await rejection(skewed.get("c/x"));
    expect([e3.status, e3.s3Code]).toEqual([403, "RequestTimeTooSkewed"]);
    const otherRegion = t.config.region === "eu-west-3" ? "us-west-2" : "eu-west-3";
    const region = await rawRequest(t, "GET", "c/x", { region: otherRegion });
    expect(region.status).toBe(400);
    expect(errorCode(region.text)).toBe("AuthorizationHeaderMalformed");

    const unsigned = await fetch(`${t.config.endpoint}/${t.config.bucket}/${t.config.prefix}c/x`);
    expect(unsigned.status).toBe(403);
    expect(errorCode(await unsigned.text())).toBe("AccessDenied");

    const hash = await rawRequest(t, "PUT", "c/hash", {
      body: Buffer.from("actual body"),
      payloadHash: createHash("sha256").update("another body").digest("hex"),
    });
    expect(hash.status).toBe(400);
    expect(errorCode(hash.text)).toBe("XAmzContentSHA256Mismatch");
    expect(await t.client.get("c/hash")).toBeNull();
  });

  it("validates keys before sending anything", async () => {
    for (const bad of ["/lead", "a/../b", "a/./b", "a//b", "ctl\u0001", "", "x".repeat(1100)]) {
      const err = await rejection(t.client.put(bad, "x"));
      expect(err.status).toBeNull();
      expect(err.message).toMatch(/invalid object key/);
    }
  });
});

describe("S3 test server faults and limits", () => {
  // Always the test server: a real endpoint cannot be driven into these on demand.
  let t: S3Target;
  let server: S3TestServer;
  beforeAll(async () => {
    t = await s3Target({ maxObjectBytes: 4096, testServer: true });
    server = t.server as S3TestServer;
  });
  afterAll(() => t.close());

  it("enforces its body size limit with EntityTooLarge", async () => {
    const err = await rejection(t.client.put("big", Buffer.alloc(5000)));
    expect([err.status, err.s3Code]).toEqual([400, "EntityTooLarge"]);
    await t.client.put("fits", Buffer.alloc(4096));
    expect((await t.client.head("fits"))?.size).toBe(4096);
  });

  it("answers S3's codes for what it does not serve or cannot accept", async () => {
    const md5 = (b: string): string => createHash("md5").update(b).digest("base64");
    const cases: [Promise<{ status: number; text: string }>, number, string | null][] = [
      [rawRequest(t, "GET", "x", { bucket: "no-such-bucket" }), 404, "NoSuchBucket"],
      [rawRequest(t, "POST", "x"), 405, "MethodNotAllowed"],
      [rawRequest(t, "GET", null), 501, "NotImplemented"], // ListObjects v1
      [rawRequest(t, "GET", "x", { query: [["acl", ""]] }), 501, "NotImplemented"],
      [rawRequest(t, "HEAD", null), 200, null], // HeadBucket
      [
        rawRequest(t, "GET", "x", { unsignedHeaders: { "x-amz-meta-extra": "1" } }),
        403,
        "AccessDenied",
      ],
      [
        rawRequest(t, "PUT", "md5", {
          body: Buffer.from("body"),
          headers: { "content-md5": md5("other") },
        }),
        400,
        "BadDigest",
      ],
      [
        rawRequest(t, "PUT", "stream", { payloadHash: "STREAMING-AWS4-HMAC-SHA256-PAYLOAD" }),
        501,
        "NotImplemented",
      ],
    ];
    for (const [p, status, code] of cases) {
      const r = await p;
      expect([r.status, code === null ? null : errorCode(r.text)]).toEqual([status, code]);
    }
    const ok = await rawRequest(t, "PUT", "md5", {
      body: Buffer.from("body"),
      headers: { "content-md5": md5("body"), "x-amz-meta-origin": "test" },
    });
    expect(ok.status).toBe(200);
    const head = await rawRequest(t, "HEAD", "md5");
    expect(head.headers.get("x-amz-meta-origin")).toBe("test");
    expect(head.headers.get("content-length")).toBe("4");
    const presigned = await fetch(
      `${t.config.endpoint}/${t.config.bucket}/x?X-Amz-Algorithm=AWS4-HMAC-SHA256`,
    );
    // A presigned URL missing its other X-Amz-* parameters, as S3 answers it.
    expect(presigned.status).toBe(400);
    expect(errorCode(await presigned.text())).toBe("AuthorizationQueryParametersError");
    await t.client.put("enc/a b", "1");
    const listed = await rawRequest(t, "GET", null, {
      query: [
        ["list-type", "2"],
        ["prefix", `${t.config.prefix}enc/`],
        ["encoding-type", "url"],
      ],
    });
    expect(listed.text).toContain(`<Key>${t.config.prefix}enc/a%20b</Key>`);
    expect(listed.text).toContain("<EncodingType>url</EncodingType>");
  });

  it("client retries 5xx with backoff, then gives up with the S3 code", async () => {
    const c = new S3Client({ ...t.config, maxRetries: 3 });
    server.failNext(2);
    await c.put("retry/x", "ok");
    expect((await c.get("retry/x"))?.body.toString()).toBe("ok");
    server.failNext(10);
    const err = await rejection(c.get("retry/x"));
    expect([err.status, err.s3Code]).toEqual([503, "SlowDown"]);
    server.failNext(0);
  });

  it("reports an unreachable endpoint after its retries", async () => {
    const c = new S3Client({ ...t.config, maxRetries: 2 });
    await server.stop();
    try {
      const err = await rejection(c.get("retry/x"));
      expect(err.status).toBeNull();
      expect(err.message).toMatch(/unreachable.*3 attempts/);
    } finally {
      await server.start();
    }
    expect((await c.get("retry/x"))?.body.toString()).toBe("ok");
  });
});
