import type { IncomingMessage } from "node:http";

/** A malformed request (path, query or header): answered 400 with the field it names. */
export class BadRequest extends Error {
  constructor(
    readonly field: string,
    message: string,
  ) {
    super(message);
    this.name = "BadRequest";
  }
}

/** Longest id (task, app key) a path segment may carry. */
const MAX_ID_CHARS = 256;

/** Characters no id may hold: C0 controls (NUL among them) and DEL. */
function hasControl(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x7f) return true;
  }
  return false;
}

/**
 * The request target as a URL. Origin-form targets (`/path?query`) are read as paths even when
 * they start with `//`; absolute-form ones (from proxies) as they are.
 */
export function requestUrl(req: IncomingMessage): URL {
  const target = req.url ?? "/";
  try {
    return target.startsWith("/") ? new URL(`http://request${target}`) : new URL(target);
  } catch {
    throw new BadRequest(
      "path",
      `request target ${JSON.stringify(target.slice(0, 200))} is not a URL`,
    );
  }
}

/** A percent-encoded path segment naming `field`, decoded: 1 to 256 characters, no controls. */
export function pathSegment(raw: string, field: string): string {
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    throw new BadRequest(
      field,
      `${field} in the path is not valid percent-encoding (RFC 3986): ${JSON.stringify(raw.slice(0, 200))}`,
    );
  }
  if (value.length === 0 || value.length > MAX_ID_CHARS) {
    throw new BadRequest(field, `${field} must be 1 to ${MAX_ID_CHARS} characters`);
  }
  if (hasControl(value)) {
    throw new BadRequest(field, `${field} must not contain control characters (NUL among them)`);
  }
  return value;
}

/**
 * Query parameter `name` as a non-negative safe integer (undefined when absent or empty). Digits
 * only; a value past 2^53 - 1, which a JavaScript number cannot hold exactly, is refused.
 */
export function intParam(url: URL, name: string): number | undefined {
  const all = url.searchParams.getAll(name);
  if (all.length > 1)
    throw new BadRequest(name, `query parameter '${name}' is given ${all.length} times`);
  const v = all[0];
  if (v === undefined || v === "") return undefined;
  if (!/^\d+$/.test(v)) {
    throw new BadRequest(
      name,
      `query parameter '${name}' must be a non-negative integer, got ${JSON.stringify(v.slice(0, 100))}`,
    );
  }
  const n = Number(v);
  if (!Number.isSafeInteger(n)) {
    throw new BadRequest(
      name,
      `query parameter '${name}' must be at most ${Number.MAX_SAFE_INTEGER}, got ${v.length > 30 ? `${v.slice(0, 30)}... (${v.length} digits)` : v}`,
    );
  }
  return n;
}

/** Query parameter `name` as one of `allowed` (or `fallback` when absent). */
export function enumParam<T extends string>(
  url: URL,
  name: string,
  allowed: readonly T[],
  fallback: T,
): T {
  const all = url.searchParams.getAll(name);
  if (all.length > 1)
    throw new BadRequest(name, `query parameter '${name}' is given ${all.length} times`);
  const v = all[0] ?? fallback;
  if (!(allowed as readonly string[]).includes(v)) {
    throw new BadRequest(
      name,
      `${name} must be ${allowed.join(" or ")}, got ${JSON.stringify(v.slice(0, 100))}`,
    );
  }
  return v as T;
}
