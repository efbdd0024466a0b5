import { invalid } from "./errors.js";

/** A page of items and the opaque token of the next one (CircleCI's `next_page_token`). */
export interface Page<T> {
  items: T[];
  nextPageToken: string | null;
}

export const PAGE_SIZE = 20;

/** Encodes a keyset cursor as an opaque token. */
export function encodePageToken(cursor: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

/** Decodes a token made by `encodePageToken`; a malformed one is a 400 on `page-token`. */
export function decodePageToken(token: string | undefined): Record<string, string | number> | null {
  if (token === undefined || token === "") return null;
  try {
    const value: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (value && typeof value === "object" && !Array.isArray(value)) {
      return value as Record<string, string | number>;
    }
  } catch {
    // fall through
  }
  throw invalid("invalid page token", [{ field: "page-token", message: "not a valid page token" }]);
}
