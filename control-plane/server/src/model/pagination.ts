import { z } from "zod";
import { PG_INTEGER_MAX } from "../db/limits.js";
import { invalid } from "./errors.js";

/** A page of items and the opaque token of the next one (CircleCI's `next_page_token`). */
export interface Page<T> {
  items: T[];
  nextPageToken: string | null;
}

export const PAGE_SIZE = 20;

/** A cursor field that PostgreSQL compares with an `integer` column or uses as an offset. */
export const cursorInteger = z.number().int().min(0).max(PG_INTEGER_MAX);

/** Encodes a keyset cursor as an opaque token. */
export function encodePageToken(cursor: Record<string, string | number>): string {
  return Buffer.from(JSON.stringify(cursor)).toString("base64url");
}

/**
 * Decodes a token made by `encodePageToken` into the cursor shape `schema` describes; a malformed
 * token, or one whose fields SQL could not use, is a 400 on `page-token`.
 */
export function decodePageToken<S extends z.ZodType<Record<string, string | number>>>(
  token: string | undefined,
  schema: S,
): z.infer<S> | null {
  if (token === undefined || token === "") return null;
  try {
    const parsed = schema.safeParse(JSON.parse(Buffer.from(token, "base64url").toString("utf8")));
    if (parsed.success) return parsed.data;
  } catch {
    // fall through
  }
  throw invalid("invalid page token", [{ field: "page-token", message: "not a valid page token" }]);
}
