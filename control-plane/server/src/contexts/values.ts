import { invalid } from "./errors.js";

export const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const MAX_NAME_LENGTH = 256;
/** Largest value accepted, in UTF-8 bytes. */
export const MAX_VALUE_BYTES = 64 * 1024;

export function checkName(name: unknown, field = "name"): string {
  if (typeof name !== "string" || !ENV_VAR_NAME.test(name) || name.length > MAX_NAME_LENGTH) {
    throw invalid(
      `${field}: environment variable names must match ^[A-Za-z_][A-Za-z0-9_]*$ (at most ${MAX_NAME_LENGTH} characters)`,
    );
  }
  return name;
}

export function checkValue(value: unknown, field = "value"): string {
  if (typeof value !== "string") throw invalid(`${field}: must be a string`);
  if (Buffer.byteLength(value, "utf8") > MAX_VALUE_BYTES) {
    throw invalid(`${field}: at most ${MAX_VALUE_BYTES} bytes`);
  }
  return value;
}

/**
 * What the API shows of a value: `xxxx` and its last 4 characters. Values shorter than 8
 * characters show `xxxx` alone, so the hint never reveals half a short secret.
 */
export function valueHint(value: string): string {
  const chars = [...value];
  return chars.length >= 8 ? `xxxx${chars.slice(-4).join("")}` : "xxxx";
}
