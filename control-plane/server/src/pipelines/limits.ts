/** Size limits of a trigger, derived from the compiler's so that what it accepts can be sent. */
import { MAX_CONFIG_BYTES } from "@drover/config-compiler";

/**
 * JSON at most doubles a config's text: `"`, `\`, newline, CR and tab become two characters;
 * YAML allows no other control characters, and other text is sent as UTF-8 unchanged.
 */
const JSON_ESCAPE_FACTOR = 2;

/** Room for the rest of a trigger body (branch, tag, revision, parameters) and the braces. */
const OTHER_FIELDS_BYTES = 64 * 1024;

/** The API's request body limit: the largest config the compiler takes, JSON-encoded, plus the rest. */
export const API_BODY_LIMIT = JSON_ESCAPE_FACTOR * MAX_CONFIG_BYTES + OTHER_FIELDS_BYTES;

/** Bytes of UTF-8 in `text` beyond the compiler's limit, or 0. */
export function configOverLimit(text: string): number {
  return Math.max(0, Buffer.byteLength(text, "utf8") - MAX_CONFIG_BYTES);
}

export { MAX_CONFIG_BYTES };
