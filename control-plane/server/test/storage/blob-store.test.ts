import { mkdtemp, readdir, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DiskBlobStore } from "../../src/storage/index.js";

async function text(r: Readable | undefined): Promise<string | undefined> {
  if (!r) return undefined;
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe("DiskBlobStore", () => {
  let dir: string;
  let store: DiskBlobStore;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "drover-blob-"));
    store = new DiskBlobStore(dir);
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

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
    expect(await readdir(path.join(dir, "f"))).toEqual([]);
  });
});
