/**
 * The one list of ways a secret value gets printed. A *representation* turns the value's bytes
 * into text (itself, base64, hex); a *transport* escapes text for where it is written (a URL, a
 * JSON string, a shell word). The masker hides every transport of every representation, so a new
 * way of printing a secret is one entry here, and every form it yields is tested the same way.
 *
 * Forms that depend on what surrounds the value (base64 of the value inside a longer input) keep
 * only the characters the value alone determines: they are "partial" and need `MIN_PARTIAL_LENGTH`.
 */

/** A partial form (one that leaves out characters its neighbours decide) is masked from this length. */
export const MIN_PARTIAL_LENGTH = 8;

export interface Encoder {
  name: string;
  /** Forms of `text`; may return `text` itself or nothing. */
  encode(text: string): string[];
}

export interface Representation extends Encoder {
  /** Forms that leave out characters decided by neighbouring bytes: not escaped any further. */
  partial?: boolean;
}

const utf8 = (text: string): Buffer => Buffer.from(text, "utf8");

/** `text` broken after every `width` characters with `\n` (as GNU base64, openssl and xxd do). */
function wrap(text: string, width: number): string[] {
  if (text.length <= width) return [];
  const lines: string[] = [];
  for (let i = 0; i < text.length; i += width) lines.push(text.slice(i, i + width));
  return [lines.join("\n")];
}

function base64(bytes: Buffer): { std: string; url: string } {
  const std = bytes.toString("base64");
  return { std, url: std.replaceAll("+", "-").replaceAll("/", "_") };
}

/**
 * Base64 of the value inside a longer input that puts `shift` bytes (mod 3) before it, as in a
 * Basic auth header (`user:pass`) or `echo`'s output (a newline after): the characters the value
 * alone decides, standard and URL-safe.
 */
function base64InContext(text: string, shift: 0 | 1 | 2): string[] {
  const bytes = Buffer.concat([Buffer.alloc(shift, 0x21), utf8(text)]);
  const { std, url } = base64(bytes);
  const unpadded = std.replace(/=+$/, "").length;
  // The first group shares 1 or 2 characters with the bytes before; the last one, with the next.
  const head = [0, 2, 3][shift] as number;
  const tail = bytes.length % 3 === 0 ? unpadded : unpadded - 1;
  return [std.slice(head, tail), url.slice(head, tail)];
}

/** Columns at which tools wrap encoded output: GNU base64 and basenc 76, openssl 64, `xxd -p` 60. */
export const WRAP_WIDTHS: readonly number[] = [76, 64, 60];

export const REPRESENTATIONS: readonly Representation[] = [
  { name: "plain", encode: (t) => [t] },
  {
    // Padded and unpadded, standard and URL-safe alphabets; and as the start of a longer input.
    name: "base64",
    encode: (t) => {
      const { std, url } = base64(utf8(t));
      return [std, std.replace(/=+$/, ""), url, url.replace(/=+$/, ""), ...base64InContext(t, 0)];
    },
  },
  {
    name: "hex",
    encode: (t) => {
      const hex = utf8(t).toString("hex");
      return [hex, hex.toUpperCase()];
    },
  },
  {
    name: "base64-in-context",
    partial: true,
    encode: (t) => [...base64InContext(t, 1), ...base64InContext(t, 2)],
  },
];

const HEX = "0123456789ABCDEF";

/** ASCII characters one percent-encoder leaves as they are (1) or escapes (0). */
function keepTable(keep: string): Uint8Array {
  const t = new Uint8Array(128);
  for (let c = 0; c < 128; c++) {
    const ch = String.fromCharCode(c);
    if (/[A-Za-z0-9]/.test(ch) || keep.includes(ch)) t[c] = 1;
  }
  return t;
}

/** What each common encoder leaves unescaped besides letters and digits. */
const PERCENT_KEEP = [
  keepTable("-._~"), // RFC 3986 unreserved (curl, Go's PathEscape, Python's quote(safe=""))
  keepTable("-._~!'()*"), // JavaScript's encodeURIComponent
  keepTable("-._~/"), // Python's quote() (keeps "/")
  keepTable("-._*"), // WHATWG application/x-www-form-urlencoded (URLSearchParams)
];

/**
 * Percent-encodes the UTF-8 bytes of `text` (RFC 3986, section 2.1), leaving the ASCII characters
 * `keep` marks, with `+` for a space when `plus` (HTML forms).
 */
function percent(text: string, keep: Uint8Array, plus: boolean): string {
  let plain = true;
  for (let i = 0; i < text.length && plain; i++) {
    const c = text.charCodeAt(i);
    plain = c < 128 && keep[c] === 1;
  }
  if (plain) return text;
  let out = "";
  for (const b of utf8(text)) {
    if (b < 128 && keep[b] === 1) out += String.fromCharCode(b);
    else if (plus && b === 0x20) out += "+";
    else out += `%${HEX[b >> 4]}${HEX[b & 15]}`;
  }
  return out;
}

function jsonEscape(
  text: string,
  opts: { ascii?: boolean; html?: boolean; slash?: boolean },
): string {
  let s = JSON.stringify(text).slice(1, -1);
  if (opts.ascii) {
    s = s.replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
  }
  if (opts.html) {
    s = s.replace(
      /[<>&\u2028\u2029]/g,
      (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
    );
  }
  if (opts.slash) s = s.replaceAll("/", "\\/");
  return s;
}

/** Characters bash's `printf %q` puts a backslash before (bash 5.2, `sh_backslash_quote`). */
const BASH_BACKSLASHED = /[ \t\n!"$&'()*,;<>?[\\\]^`{|}]/;

/** bash's `printf %q` (and `set -x` for a word without shell metacharacters) needs `$'...'`. */
function needsAnsiC(text: string, cLocale: boolean): boolean {
  // Control characters, and in the C locale every non-ASCII byte.
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x20 || c === 0x7f || (cLocale && c > 0x7f)) return true;
  }
  return false;
}

/** The body of bash's `$'...'` quoting; in the C locale non-ASCII bytes become octal escapes. */
function ansiC(text: string, cLocale: boolean): string {
  const named: Record<number, string> = {
    7: "\\a",
    8: "\\b",
    9: "\\t",
    10: "\\n",
    11: "\\v",
    12: "\\f",
    13: "\\r",
    27: "\\E",
    39: "\\'",
    92: "\\\\",
  };
  let out = "";
  for (const ch of text) {
    const code = ch.codePointAt(0) as number;
    if (named[code] !== undefined) out += named[code];
    else if (code < 0x20 || code === 0x7f || (cLocale && code > 0x7f)) {
      for (const b of utf8(ch)) out += `\\${b.toString(8).padStart(3, "0")}`;
    } else out += ch;
  }
  return out;
}

/** bash's `printf %q` without `$'...'`: a backslash before each special character. */
function backslashQuote(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    const prev = i === 0 ? "" : text[i - 1];
    const special =
      BASH_BACKSLASHED.test(c) ||
      (c === "#" && i === 0) ||
      (c === "~" && (i === 0 || prev === ":" || prev === "="));
    out += special ? `\\${c}` : c;
  }
  return out;
}

export const TRANSPORTS: readonly Encoder[] = [
  { name: "plain", encode: (t) => [t] },
  {
    name: "percent",
    // Uppercase hex digits (RFC 3986 recommends them) and lowercase ones (equivalent).
    encode: (t) =>
      PERCENT_KEEP.flatMap((keep) => [percent(t, keep, false), percent(t, keep, true)]).flatMap(
        (p) => (p === t ? [p] : [p, p.replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase())]),
      ),
  },
  {
    // JSON.stringify; Python's json.dumps (ASCII only); Go's encoding/json (HTML-safe); PHP (`\/`).
    name: "json",
    encode: (t) => [
      jsonEscape(t, {}),
      jsonEscape(t, { ascii: true }),
      jsonEscape(t, { html: true }),
      jsonEscape(t, { ascii: true, slash: true }),
    ],
  },
  {
    // Inside single quotes (`set -x`, `${v@Q}`): `'` becomes `'\''`.
    name: "shell-single-quoted",
    encode: (t) => [t.replaceAll("'", "'\\''")],
  },
  {
    // `printf %q` and `set -x`: backslashes, or `$'...'` for control (C locale: non-ASCII) bytes.
    name: "shell-escaped",
    encode: (t) => [
      ...(needsAnsiC(t, false) ? [ansiC(t, false)] : [backslashQuote(t)]),
      ...(needsAnsiC(t, true) ? [ansiC(t, true)] : []),
    ],
  },
  {
    // Inside double quotes (`declare -p`, `export -p`).
    name: "shell-double-quoted",
    encode: (t) => [t.replace(/["\\$`]/g, (c) => `\\${c}`)],
  },
  {
    // A terminal (a pty) prints each newline as CR LF.
    name: "crlf",
    encode: (t) => (t.includes("\n") ? [t.replaceAll("\n", "\r\n")] : []),
  },
];

/** What `encodedForms` yields, by the rule that decides whether a form is masked. */
export interface EncodedForms {
  /** Whole forms of the value. */
  full: string[];
  /** Lines of whole forms that span lines (a PEM key): tools print such values line by line. */
  lines: string[];
  /** Partial representations and the lines of wrapped ones: masked from `MIN_PARTIAL_LENGTH`. */
  partial: string[];
}

const LINE_BREAK = /\r?\n|\r/;

/**
 * Every form of `value` the encoders yield: each transport of each representation, and of each
 * encoded representation wrapped at each of `WRAP_WIDTHS` (a tool may also print each line of a
 * wrapped form on its own, after a prefix). Unordered, may repeat.
 */
export function encodedForms(value: string): EncodedForms {
  const out: EncodedForms = { full: [], lines: [], partial: [] };
  for (const rep of REPRESENTATIONS) {
    for (const r of rep.encode(value)) {
      if (rep.partial) {
        out.partial.push(r);
        continue;
      }
      const laid = [r];
      if (rep.name !== "plain") {
        for (const width of WRAP_WIDTHS) {
          const w = wrap(r, width);
          laid.push(...w);
          for (const form of w) out.partial.push(...form.split("\n"));
        }
      }
      for (const form of laid) {
        for (const t of TRANSPORTS) {
          for (const f of t.encode(form)) {
            out.full.push(f);
            if (rep.name === "plain" && LINE_BREAK.test(f)) out.lines.push(...f.split(LINE_BREAK));
          }
        }
      }
    }
  }
  return out;
}
