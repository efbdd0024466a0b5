import { createHash, randomBytes, timingSafeEqual } from "node:crypto";

/** A fresh 256-bit random token, base64url, with a readable prefix (`drv_`, `dtt_`, `dts_`). */
export function generateToken(prefix: string): string {
  return `${prefix}${randomBytes(32).toString("base64url")}`;
}

/** How tokens are stored: sha256 hex. */
export function hashToken(token: string): string {
  return createHash("sha256").update(token, "utf8").digest("hex");
}

/** Constant-time string comparison. */
export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Prefixes: API tokens, task tokens (single use), task sessions. */
export const API_TOKEN_PREFIX = "drv_";
export const TASK_TOKEN_PREFIX = "dtt_";
export const TASK_SESSION_PREFIX = "dts_";
