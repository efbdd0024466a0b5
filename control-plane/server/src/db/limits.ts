/** What PostgreSQL (and PGlite) can store: the limits input is checked against before SQL. */

/** Largest value of a PostgreSQL `integer` (job, pipeline and node numbers, offsets). */
export const PG_INTEGER_MAX = 2_147_483_647;

const UNPAIRED_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/**
 * Why PostgreSQL would refuse `s` as `text` or inside `jsonb`, or null when it would not: `text`
 * cannot hold NUL, and `jsonb` refuses `\u0000` and unpaired surrogate escapes.
 */
export function pgTextProblem(s: string): string | null {
  if (s.includes("\u0000")) return "must not contain NUL (\\u0000) characters";
  if (UNPAIRED_SURROGATE.test(s)) return "must not contain unpaired UTF-16 surrogates";
  return null;
}
