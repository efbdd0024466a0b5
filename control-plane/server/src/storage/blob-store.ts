import type { Readable } from "node:stream";

/**
 * Byte storage for artifacts, caches and workspace layers, addressed by `/`-separated keys
 * (`artifacts/<job>/<node>/<path>`). Implementations: `DiskBlobStore` (default, under a directory);
 * object storage can implement the same four calls.
 *
 * `put` consumes the stream and makes the blob visible only once it is complete (a failed or
 * aborted upload leaves nothing behind); putting an existing key replaces it. `get` returns
 * undefined for a missing key. `delete` of a missing key is not an error. All calls may run
 * concurrently for different keys.
 */
export interface BlobStore {
  put(key: string, body: Readable, opts?: { maxBytes?: number }): Promise<{ size: number }>;
  get(key: string): Promise<Readable | undefined>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
}

/** Keys are relative paths of safe segments: no empty, `.` or `..` segment, no backslash or NUL. */
export function checkBlobKey(key: string): string {
  const segs = key.split("/");
  if (
    !key ||
    key.length > 2048 ||
    /[\\\0]/.test(key) ||
    segs.some((s) => !s || s === "." || s === "..")
  ) {
    throw new Error(`invalid blob key '${key}'`);
  }
  return key;
}
