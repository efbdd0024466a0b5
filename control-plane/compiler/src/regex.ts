/** Whole-string regular expressions for filters and `matches`, compiled once per pattern. */
import { ConfigErrorCode } from "./errors.js";
import type { Diagnostics } from "./errors.js";
import type { Pos } from "./yaml-source.js";

const cache = new Map<string, RegExp | null>();

/** `pattern` must match the entire string; an invalid pattern is reported at `at`. */
export function wholeRegex(pattern: string, at: Pos, diag: Diagnostics): RegExp | undefined {
  let re = cache.get(pattern);
  if (re === undefined) {
    try {
      re = new RegExp(`^(?:${pattern})$`, "u");
    } catch {
      try {
        // Go's RE2 syntax is close to JS without the `u` flag for patterns like `[\w-]`.
        re = new RegExp(`^(?:${pattern})$`);
      } catch {
        re = null;
      }
    }
    if (cache.size > 10_000) cache.clear();
    cache.set(pattern, re);
  }
  if (re === null) {
    diag.add(ConfigErrorCode.INVALID_REGEX, `invalid regular expression /${pattern}/`, at);
    return undefined;
  }
  return re;
}

/**
 * A filter entry: `/re/` is a whole-string regex, anything else an exact name. Returns a
 * predicate, or undefined when the regex is invalid (reported).
 */
export function filterMatcher(
  entry: string,
  at: Pos,
  diag: Diagnostics,
): ((s: string) => boolean) | undefined {
  if (entry.length >= 2 && entry.startsWith("/") && entry.endsWith("/")) {
    const re = wholeRegex(entry.slice(1, -1), at, diag);
    return re ? (s) => re.test(s) : undefined;
  }
  return (s) => s === entry;
}
