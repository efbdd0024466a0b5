/**
 * Argument parsing for every `drover` command: strict options (an unknown option is an error),
 * named positionals (`<required>`, `[optional]`, `[rest...]`), `--help`/`-h`. Every problem is a
 * `UsageError`, which `runCli` prints with the command's usage and turns into exit code 2.
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";

/** Bad command line: printed with `usage`, exit code 2. */
export class UsageError extends Error {
  readonly code = "DROVER_ERR_USAGE";
  constructor(
    /** `drover pipeline trigger`: the command the message is about. */
    readonly command: string,
    message: string,
    readonly usage: string,
  ) {
    super(message);
    this.name = "UsageError";
  }
}

/** `--help` was given: `runCli` prints `usage` on stdout, exit code 0. */
export class HelpRequested extends Error {
  readonly code = "DROVER_HELP";
  constructor(readonly usage: string) {
    super("help requested");
    this.name = "HelpRequested";
  }
}

export interface CommandSpec<O extends ParseArgsOptionsConfig> {
  /** As typed: `drover pipeline trigger`. */
  name: string;
  usage: string;
  options: O;
  /** `<name>` required, `[name]` optional, a last `[name...]` takes the rest. */
  positionals?: readonly string[];
}

type Config<O extends ParseArgsOptionsConfig> = {
  args: string[];
  options: O;
  allowPositionals: true;
  strict: true;
};

export type ParsedOptions<O extends ParseArgsOptionsConfig> = ReturnType<
  typeof parseArgs<Config<O>>
>["values"];

export interface ParsedCommand<O extends ParseArgsOptionsConfig> {
  values: ParsedOptions<O>;
  /** Named positionals in order; optional ones absent are `undefined`. */
  positionals: string[];
  /** Throws a `UsageError` for a bad value (`--role owner`, `--param x`). */
  fail(message: string): never;
}

const HELP = { help: { type: "boolean", short: "h" } } as const;

/** Parses `argv` by `spec`; throws `UsageError` or `HelpRequested`. */
export function parseCommand<O extends ParseArgsOptionsConfig>(
  argv: string[],
  spec: CommandSpec<O>,
): ParsedCommand<O> {
  const fail = (message: string): never => {
    throw new UsageError(spec.name, message, spec.usage);
  };
  let parsed: { values: Record<string, unknown>; positionals: string[] };
  try {
    parsed = parseArgs({
      args: argv,
      options: { ...spec.options, ...HELP },
      allowPositionals: true,
      strict: true,
    });
  } catch (err) {
    if (isParseArgsError(err)) return fail(parseArgsMessage(err));
    throw err;
  }
  if (parsed.values.help === true) throw new HelpRequested(spec.usage);
  const names = spec.positionals ?? [];
  const rest = names.at(-1)?.endsWith("...]") ?? false;
  const required = names.filter((n) => n.startsWith("<")).length;
  const given = parsed.positionals;
  if (given.length < required) fail(`missing ${names[given.length]}`);
  if (!rest && given.length > names.length) {
    fail(`unexpected argument '${given[names.length]}'`);
  }
  return { values: parsed.values as ParsedOptions<O>, positionals: given, fail };
}

/** The subcommand (`argv[0]`) among `names`, and the arguments after it. */
export function subcommand<N extends string>(
  argv: string[],
  names: readonly N[],
  spec: { name: string; usage: string },
): [N, string[]] {
  const [sub, ...rest] = argv;
  if (sub === "--help" || sub === "-h" || sub === "help") throw new HelpRequested(spec.usage);
  if (sub === undefined) {
    throw new UsageError(spec.name, `missing subcommand (${names.join(", ")})`, spec.usage);
  }
  if (!(names as readonly string[]).includes(sub)) {
    throw new UsageError(spec.name, `unknown subcommand '${sub}'`, spec.usage);
  }
  return [sub as N, rest];
}

/** `k=v` pairs of a repeated option; a pair without `=` or key is a usage error. */
export function keyValues(
  raw: readonly string[] | undefined,
  option: string,
  fail: (message: string) => never,
): Array<[string, string]> {
  return (raw ?? []).map((kv) => {
    const eq = kv.indexOf("=");
    if (eq < 1) fail(`--${option} '${kv}' is not key=value`);
    return [kv.slice(0, eq), kv.slice(eq + 1)];
  });
}

/** A non-negative integer option (ports); `undefined` when absent. */
export function integerOption(
  value: string | undefined,
  option: string,
  fail: (message: string) => never,
  max = Number.MAX_SAFE_INTEGER,
): number | undefined {
  if (value === undefined) return undefined;
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n) || n > max) fail(`--${option} must be an integer up to ${max}`);
  return n;
}

function isParseArgsError(err: unknown): err is Error & { code: string } {
  const code = err instanceof Error ? (err as { code?: unknown }).code : undefined;
  return typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_");
}

/** Node's messages, without their advice about `--` and `strict:false` (meant for programmers). */
function parseArgsMessage(err: Error & { code: string }): string {
  const first = err.message.split("\n")[0]?.split(". ")[0] ?? err.message;
  return first.replace(/\.$/, "");
}
