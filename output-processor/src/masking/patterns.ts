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
 * Every string the masker hides for these secrets: each maskable value, its base64 form (padded and
 * unpadded, standard and URL-safe alphabets) and its URL-encoded forms (`%20` and `+` for spaces);
 * for a multi-line value (a PEM key, a JSON credential), also each maskable line, trimmed, since
 * tools print such values line by line. Sorted and deduplicated, so the result is a pure function
 * of the set of values.
 */
export function maskPatterns(secrets: readonly string[]): string[] {
  const out = new Set<string>();
  for (const value of secrets) {
    if (!isMaskable(value)) continue;
    if (/[\r\n]/.test(value)) {
      for (const line of value.split(/\r?\n|\r/)) {
        const t = line.trim();
        if (isMaskable(t)) out.add(t);
      }
    }
    out.add(value);
    const b64 = Buffer.from(value, "utf8").toString("base64");
    const unpadded = b64.replace(/=+$/, "");
    out.add(b64);
    out.add(unpadded);
    out.add(unpadded.replaceAll("+", "-").replaceAll("/", "_"));
    let url: string | undefined;
    try {
      url = encodeURIComponent(value);
    } catch {
      url = undefined; // a lone surrogate has no URL encoding
    }
    if (url !== undefined) {
      out.add(url);
      out.add(url.replaceAll("%20", "+"));
    }
  }
  return [...out].filter((p) => p.length >= MIN_SECRET_LENGTH).sort();
}
