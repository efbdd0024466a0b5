import { MIN_PARTIAL_LENGTH, encodedForms } from "./encoders.js";

/** What replaces every masked run of output. */
export const MASK = "****";

/** Values shorter than this are never masked (as in CircleCI): they would hide ordinary text. */
export const MIN_SECRET_LENGTH = 4;

const NEVER_MASKED = new Set(["true", "True", "false", "False"]);

/** Whether a secret value is masked at all (CircleCI's rules: 4+ characters, not a boolean word). */
export function isMaskable(value: string): boolean {
  return value.length >= MIN_SECRET_LENGTH && !NEVER_MASKED.has(value);
}

/**
 * Every string the masker hides for these secrets: each form `encoders.ts` derives from each
 * maskable value (the value itself; base64 padded, unpadded, URL-safe, wrapped as tools wrap it,
 * and inside a longer input; hex; each of them percent-encoded, JSON-escaped and shell-quoted),
 * each line of a form that spans lines (trimmed, if maskable itself) and each line of a wrapped
 * encoding (from `MIN_PARTIAL_LENGTH`). Sorted and deduplicated, so the result is a pure function
 * of the set of values.
 */
export function maskPatterns(secrets: readonly string[]): string[] {
  const out = new Set<string>();
  for (const value of new Set(secrets)) {
    if (!isMaskable(value)) continue;
    const { full, lines, partial } = encodedForms(value);
    for (const form of full) if (form.length >= MIN_SECRET_LENGTH) out.add(form);
    for (const line of lines) {
      const t = line.trim();
      if (isMaskable(t)) out.add(t);
    }
    for (const form of partial) if (form.length >= MIN_PARTIAL_LENGTH) out.add(form);
  }
  return [...out].sort();
}
