/**
 * The rules every BlobStore keeps, one suite run against each: the disk store, and the S3 store
 * on the S3 API test server (which verifies SigV4 as S3 does) or on a real S3/MinIO when
 * DROVER_S3_ENDPOINT and DROVER_S3_BUCKET are set (credentials from the SDK's chain).
 */
import { randomUUID } from "node:crypto";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { S3TestServer } from "@drover/output-processor/objstore/testing";
import { DiskBlobStore, S3BlobStore, type BlobStore } from "../../src/storage/index.js";

async function text(r: Readable | undefined): Promise<string | undefined> {
  if (!r) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

interface Target {
  store: BlobStore;
  /** Keys the store holds under `prefix` (to prove nothing is left behind). */
  keys(prefix: string): Promise<string[]>;
  close(): Promise<void>;
}

function blobStoreConformance(name: string, make: () => Promise<Target>): void {
  describe(`BlobStore conformance: ${name}`, () => {
    let t: Target;
    let store: BlobStore;
    beforeAll(async () => {
      t = await make();
      store = t.store;
    });
    afterAll(() => t?.close());

    it("puts, gets, replaces and deletes", async () => {
      expect(await store.put("a/b/c.txt", Readable.from(["he", "llo"]))).toEqual({ size: 5 });
      expect(await store.exists("a/b/c.txt")).toBe(true);
      expect(await text(await store.get("a/b/c.txt"))).toBe("hello");
      await store.put("a/b/c.txt", Readable.from(["bye"]));
      expect(await text(await store.get("a/b/c.txt"))).toBe("bye");
      await store.delete("a/b/c.txt");
      await store.delete("a/b/c.txt");
      expect(await store.exists("a/b/c.txt")).toBe(false);
      expect(await store.get("a/b/c.txt")).toBeUndefined();
    });

    it("keeps bytes exactly, also large ones and names that need encoding", async () => {
      const big = Buffer.alloc(3 * 1024 * 1024 + 7);
      for (let i = 0; i < big.length; i++) big[i] = (i * 31) % 251;
      const key = "enc/sp ace+plus&eq=ü~(1).bin";
      expect(
        await store.put(key, Readable.from([big.subarray(0, 100), big.subarray(100)])),
      ).toEqual({ size: big.length });
      const back = await store.get(key);
      const chunks: Buffer[] = [];
      for await (const c of back!) chunks.push(c as Buffer);
      expect(Buffer.concat(chunks).equals(big)).toBe(true);
      await store.delete(key);
    });

    it("refuses keys that could leave its directory", async () => {
      for (const key of ["../x", "a/../../x", "/abs", "a//b", "a\\b", ""]) {
        await expect(store.put(key, Readable.from(["x"]))).rejects.toThrow(/invalid blob key/);
      }
    });

    it("leaves nothing behind when an upload fails or is too large", async () => {
      const failing = new Readable({
        read() {
          this.push("partial");
          this.destroy(new Error("connection reset"));
        },
      });
      await expect(store.put("f/failed", failing)).rejects.toThrow("connection reset");
      await expect(
        store.put("f/big", Readable.from([Buffer.alloc(100)]), { maxBytes: 10 }),
      ).rejects.toMatchObject({
        code: "DROVER_ERR_STORAGE_TOO_LARGE",
      });
      expect(await store.exists("f/failed")).toBe(false);
      expect(await store.exists("f/big")).toBe(false);
      expect(await t.keys("f")).toEqual([]);
    });
  });
}

blobStoreConformance("disk", async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), "drover-blob-"));
  return {
    store: new DiskBlobStore(dir),
    keys: async (prefix) => readdir(path.join(dir, prefix)).catch(() => []),
    close: () => rm(dir, { recursive: true, force: true }),
  };
});

describe("S3BlobStore presigned downloads (S3 API test server)", () => {
  let server: S3TestServer;
  let store: S3BlobStore;
  beforeAll(async () => {
    server = await S3TestServer.start();
    store = new S3BlobStore({
      endpoint: server.url,
      bucket: server.bucket,
      region: server.region,
      accessKeyId: server.accessKeyId,
      secretAccessKey: server.secretAccessKey,
      prefix: "presign",
    });
    await store.put("reports/a b.txt", Readable.from(["presigned body"]));
  });
  afterAll(async () => {
    store?.close();
    await server?.close();
  });

  it("serves a presigned URL with its name and type until it expires; an altered one is refused", async () => {
    const url = await store.presignedGetUrl("reports/a b.txt", {
      expiresInSeconds: 60,
      filename: "a b.txt",
      contentType: "text/plain; charset=utf-8",
    });
    expect(url).toMatch(/X-Amz-Signature=[0-9a-f]{64}/);
    const ok = await fetch(url);
    expect(ok.status).toBe(200);
    expect(await ok.text()).toBe("presigned body");
    expect(ok.headers.get("content-disposition")).toBe("attachment; filename*=UTF-8''a%20b.txt");
    expect(ok.headers.get("content-type")).toBe("text/plain; charset=utf-8");

    const altered = await fetch(url.replace("a%20b.txt?", "other.txt?"));
    expect(altered.status).toBe(403);
    expect(await altered.text()).toContain("<Code>SignatureDoesNotMatch</Code>");
    const stale = await store.presignedGetUrl("reports/a b.txt", {
      expiresInSeconds: 60,
      signingDate: new Date(Date.now() - 3_600_000),
    });
    const expired = await fetch(stale);
    expect(expired.status).toBe(403);
    expect(await expired.text()).toContain("<Message>Request has expired</Message>");
  });
});

blobStoreConformance("s3", async () => {
  const prefix = `blobs-${randomUUID().slice(0, 8)}`;
  const real = process.env.DROVER_S3_ENDPOINT;
  const server = real ? null : await S3TestServer.start();
  const store = new S3BlobStore(
    server
      ? {
          endpoint: server.url,
          bucket: server.bucket,
          region: server.region,
          accessKeyId: server.accessKeyId,
          secretAccessKey: server.secretAccessKey,
          prefix,
        }
      : {
          endpoint: real!,
          bucket: process.env.DROVER_S3_BUCKET ?? "",
          region: process.env.AWS_REGION ?? "us-east-1",
          prefix,
        },
  );
  const { ListObjectsV2Command } = await import("@aws-sdk/client-s3");
  return {
    store,
    keys: async (p) =>
      (
        (
          await store.client.send(
            new ListObjectsV2Command({ Bucket: store.bucket, Prefix: `${prefix}/${p}/` }),
          )
        ).Contents ?? []
      ).map((c) => c.Key ?? ""),
    close: async () => {
      store.close();
      await server?.close();
    },
  };
});
