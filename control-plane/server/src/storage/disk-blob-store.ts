import { randomUUID } from "node:crypto";
import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, rename, rm, stat } from "node:fs/promises";
import path from "node:path";
import { Transform, type Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { checkBlobKey, type BlobStore } from "./blob-store.js";
import { StorageError } from "./errors.js";

/** Blobs as files under `dir`; each upload goes to a temporary file renamed into place when done. */
export class DiskBlobStore implements BlobStore {
  constructor(private readonly dir: string) {}

  private file(key: string): string {
    return path.join(this.dir, ...checkBlobKey(key).split("/"));
  }

  async put(
    key: string,
    body: Readable,
    opts: { maxBytes?: number } = {},
  ): Promise<{ size: number }> {
    const target = this.file(key);
    await mkdir(path.dirname(target), { recursive: true });
    const tmp = path.join(path.dirname(target), `.upload-${randomUUID()}`);
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
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
    return { size };
  }

  async get(key: string): Promise<Readable | undefined> {
    const file = this.file(key);
    try {
      await stat(file);
    } catch {
      return undefined;
    }
    return createReadStream(file);
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.file(key))).isFile();
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.file(key), { force: true });
  }
}
