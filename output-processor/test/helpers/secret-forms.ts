/** Tricky secrets and the forms real tools print them in: shared by the masking tests. */
import { spawnSync } from "node:child_process";

/**
 * Secrets that stress every encoder: quotes, shell and URL metacharacters, percent signs, control
 * characters, non-ASCII and astral characters, line breaks, and lengths around GNU base64's wrap
 * (57 bytes fill one 76-column line).
 */
export const TRICKY_SECRETS: readonly string[] = [
  "it's",
  "p@ss word/1+2",
  "100%2Fsure%zz&x=1",
  'quote"back\\slash$dollar`tick',
  "tab\there\nnewline",
  "\u0001ctrl\u007fdel",
  "clé-secrète-🔑",
  "~tilde#hash=~x:~y",
  "<html>&amp;'s",
  "sec!ret*(x)~",
  "Zq9/+xY7".repeat(8).slice(0, 57),
  "Zq9/+xY7".repeat(8).slice(0, 58),
  "k!@#$%^&*()_+-=[]{};':\",./<>?`~ é".repeat(4),
  "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END KEY-----\n",
];

/** Runs a real tool; its stdout (or stderr) exactly as it printed it. */
export function tool(
  cmd: string,
  args: string[],
  opts: { input?: string; env?: Record<string, string>; stderr?: boolean } = {},
): string {
  const r = spawnSync(cmd, args, {
    input: opts.input === undefined ? undefined : Buffer.from(opts.input, "utf8"),
    env: { ...process.env, LC_ALL: "C.UTF-8", ...opts.env },
  });
  if (r.error) throw new Error(`${cmd} could not run: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(" ")} exited ${r.status}: ${r.stderr}`);
  return (opts.stderr ? r.stderr : r.stdout).toString("utf8");
}

/** Python's forms of `s` (Debian's python3, one run per secret). */
const pythonForms = new Map<string, Record<string, string>>();
function python(name: string, s: string): string {
  let forms = pythonForms.get(s);
  if (!forms) {
    const code = [
      "import json, os, sys, urllib.parse as u",
      's = os.environ["S"]',
      'print(json.dumps({"quote": u.quote(s), "quote_safe": u.quote(s, safe=""),',
      '  "quote_plus": u.quote_plus(s), "json": json.dumps(s)}))',
    ].join("\n");
    forms = JSON.parse(tool("/usr/bin/python3", ["-c", code], { env: { S: s } })) as Record<
      string,
      string
    >;
    pythonForms.set(s, forms);
  }
  return forms[name] as string;
}

/** How a tool prints a secret, and the decoration that stays around the mask. */
export interface ToolForm {
  name: string;
  /** The tool's output for `s`, or null when the form does not apply to it. */
  output(s: string): string | null;
  /** What the masked output must be exactly. */
  masked: RegExp;
}

const M = "\\*{4}";
const exact = (before: string, after: string): RegExp => new RegExp(`^${before}${M}${after}$`);

/** Long enough for the base64 of it inside a longer input to be masked. */
const inContext = (s: string): boolean => Buffer.byteLength(s) >= 12;

export const TOOL_FORMS: readonly ToolForm[] = [
  { name: "as is", output: (s) => s, masked: exact("", "") },
  {
    name: "base64 (GNU, wrapped at 76)",
    output: (s) => tool("base64", [], { input: s }),
    masked: exact("", "\n"),
  },
  {
    name: "base64 -w0",
    output: (s) => tool("base64", ["-w0"], { input: s }),
    masked: exact("", ""),
  },
  {
    name: "base64 -w0, unpadded",
    output: (s) => tool("base64", ["-w0"], { input: s }).replace(/=+$/, ""),
    masked: exact("", ""),
  },
  {
    name: "basenc --base64url",
    output: (s) => tool("basenc", ["--base64url"], { input: s }),
    masked: exact("", "\n"),
  },
  {
    name: "basenc --base64url -w0, unpadded",
    output: (s) => tool("basenc", ["--base64url", "-w0"], { input: s }).replace(/=+$/, ""),
    masked: exact("", ""),
  },
  {
    name: "openssl base64 (wrapped at 64)",
    output: (s) => tool("openssl", ["base64"], { input: s }),
    masked: exact("", "\n"),
  },
  {
    name: "basenc --base16 (uppercase hex)",
    output: (s) => tool("basenc", ["--base16"], { input: s }),
    masked: exact("", "\n"),
  },
  {
    name: "xxd -p (lowercase hex at 60)",
    output: (s) => tool("xxd", ["-p"], { input: s }),
    masked: exact("", "\n"),
  },
  {
    // `echo "$S" | base64`: the value then a newline; the last characters depend on the newline.
    name: "echo | base64",
    output: (s) => (inContext(s) ? tool("base64", [], { input: `${s}\n` }) : null),
    masked: exact("", "[A-Za-z0-9+/=\n]{0,5}\n"),
  },
  {
    // A Basic auth header: `user:` before the value.
    name: "base64 of user:secret",
    output: (s) => (inContext(s) ? tool("base64", ["-w0"], { input: `user:${s}` }) : null),
    masked: exact("[A-Za-z0-9+/]{0,8}", "[A-Za-z0-9+/=]{0,4}"),
  },
  {
    name: "bash set -x",
    output: (s) => tool("bash", ["-xc", ': "$S"'], { env: { S: s }, stderr: true }),
    masked: exact("\\+ : (\\$?')?", "'?\n"),
  },
  {
    name: "bash set -x (C locale)",
    output: (s) => tool("bash", ["-xc", ': "$S"'], { env: { S: s, LC_ALL: "C" }, stderr: true }),
    masked: exact("\\+ : (\\$?')?", "'?\n"),
  },
  {
    name: "printf %q",
    output: (s) => tool("bash", ["-c", 'printf %q "$S"'], { env: { S: s } }),
    masked: exact("(\\$')?", "'?"),
  },
  {
    name: "printf %q (C locale)",
    output: (s) => tool("bash", ["-c", 'printf %q "$S"'], { env: { S: s, LC_ALL: "C" } }),
    masked: exact("(\\$')?", "'?"),
  },
  {
    name: "declare -p",
    output: (s) => tool("bash", ["-c", "declare -p S"], { env: { S: s } }),
    masked: exact(`declare -x S=("|\\$')`, `("|')\n`),
  },
  { name: "encodeURIComponent", output: (s) => encodeURIComponent(s), masked: exact("", "") },
  {
    name: "encodeURIComponent, lowercase hex",
    output: (s) => encodeURIComponent(s).replace(/%[0-9A-F]{2}/g, (h) => h.toLowerCase()),
    masked: exact("", ""),
  },
  {
    name: "URLSearchParams",
    output: (s) => new URLSearchParams({ s }).toString(),
    masked: exact("s=", ""),
  },
  {
    name: "python quote()",
    output: (s) => python("quote", s),
    masked: exact("", ""),
  },
  {
    name: "python quote(safe='')",
    output: (s) => python("quote_safe", s),
    masked: exact("", ""),
  },
  {
    name: "python quote_plus()",
    output: (s) => python("quote_plus", s),
    masked: exact("", ""),
  },
  { name: "JSON.stringify", output: (s) => JSON.stringify(s), masked: exact('"', '"') },
  {
    name: "python json.dumps",
    output: (s) => python("json", s),
    masked: exact('"', '"'),
  },
  {
    name: "jq -a",
    output: (s) => tool("jq", ["-a", "-n", "--arg", "s", s, "$s"]),
    masked: exact('"', '"\n'),
  },
  {
    name: "JSON of base64 (GNU)",
    output: (s) => JSON.stringify({ b: tool("base64", [], { input: s }) }),
    masked: exact('\\{"b":"', '\\\\n"\\}'),
  },
];
