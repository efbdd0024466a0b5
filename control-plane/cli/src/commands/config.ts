/** `drover config validate [path]` and `drover config process [path] [--branch B] [--tag T] ...`. */
import { readFileSync } from "node:fs";
import process from "node:process";
import { parse as parseYamlValue } from "yaml";
import {
  compile,
  ConfigErrorCode,
  DEFAULT_CONFIG_FILE,
  formatCompileError,
} from "@drover/config-compiler";
import type { CompileError, CompileResult, PipelineValues } from "@drover/config-compiler";
import { parseCommand, subcommand } from "../args.js";

const USAGE = `usage:
  drover config validate [path]
  drover config process [path] [--branch B] [--tag T] [--param k=v ...] [--plan] [--json]

path defaults to ${DEFAULT_CONFIG_FILE}; registry orbs are read from $DROVER_ORBS_DIR.
`;

export async function run(argv: string[]): Promise<number> {
  const [sub, rest] = subcommand(argv, ["validate", "process"], {
    name: "drover config",
    usage: USAGE,
  });
  return sub === "validate" ? validate(rest) : processCommand(rest);
}

function read(path: string): { text?: string; error?: CompileError } {
  try {
    return { text: readFileSync(path, "utf8") };
  } catch (err) {
    return {
      error: {
        code: ConfigErrorCode.READ,
        message: `cannot read config: ${err instanceof Error ? err.message : String(err)}`,
        file: path,
        line: 0,
        col: 0,
      },
    };
  }
}

/** Pipeline values for a local run: the CLI has no real pipeline, so id/number are fixed. */
function pipelineValues(opts: {
  branch?: string;
  tag?: string;
  parameters?: Record<string, string | number | boolean>;
}): PipelineValues {
  const v: PipelineValues = {
    id: "00000000-0000-0000-0000-000000000000",
    number: 1,
    projectSlug: "local/project",
    gitUrl: "",
    revision: "0000000000000000000000000000000000000000",
    triggerSource: "cli",
    parameters: opts.parameters ?? {},
  };
  if (opts.tag !== undefined) v.tag = opts.tag;
  else v.branch = opts.branch ?? "main";
  return v;
}

function compileFile(path: string, pipeline: PipelineValues): CompileResult {
  const { text, error } = read(path);
  if (error || text === undefined) return { errors: error ? [error] : [] };
  const orbsDir = process.env.DROVER_ORBS_DIR;
  return compile(text, { file: path, pipeline, ...(orbsDir ? { orbsDir } : {}) });
}

function printErrors(errors: CompileError[]): void {
  for (const e of errors) process.stderr.write(`${formatCompileError(e)}\n`);
}

async function validate(argv: string[]): Promise<number> {
  const { positionals } = parseCommand(argv, {
    name: "drover config validate",
    usage: USAGE,
    options: {},
    positionals: ["[path]"],
  });
  const path = positionals[0] ?? DEFAULT_CONFIG_FILE;
  const res = compileFile(path, pipelineValues({}));
  printErrors(res.warnings ?? []);
  if (res.errors.length > 0) {
    printErrors(res.errors);
    process.stderr.write(
      `${path}: ${res.errors.length} error${res.errors.length === 1 ? "" : "s"}\n`,
    );
    return 1;
  }
  const jobs = res.plan?.workflows.reduce((n, w) => n + w.jobs.length, 0) ?? 0;
  process.stdout.write(
    `${path}: OK (version ${res.plan?.version}, ${res.plan?.workflows.length} workflow(s), ${jobs} job(s) on main)\n`,
  );
  return 0;
}

/**
 * `--param k=v`: the value is read as a YAML scalar, then matched to the declared type of `k`
 * (so `--param n=3` is an integer for an integer parameter and the string "3" for a string one).
 */
function parseParams(
  raw: string[],
  source: string | undefined,
): { params: Record<string, string | number | boolean>; bad?: string } {
  const declared = new Map<string, string>();
  try {
    const doc = source
      ? (parseYamlValue(source, { uniqueKeys: false, merge: true }) as unknown)
      : undefined;
    const ps = (doc as { parameters?: Record<string, { type?: unknown }> } | undefined)?.parameters;
    if (ps && typeof ps === "object") {
      for (const [k, d] of Object.entries(ps))
        if (d && typeof d.type === "string") declared.set(k, d.type);
    }
  } catch {
    // The compiler reports syntax errors with positions.
  }
  const params: Record<string, string | number | boolean> = {};
  for (const kv of raw) {
    const eq = kv.indexOf("=");
    if (eq <= 0) return { params, bad: kv };
    const k = kv.slice(0, eq);
    const text = kv.slice(eq + 1);
    const t = declared.get(k);
    if (t === "string" || t === "enum") params[k] = text;
    else if (t === "boolean" && (text === "true" || text === "false")) params[k] = text === "true";
    else if (t === "integer" && /^-?\d+$/.test(text)) params[k] = Number(text);
    else {
      let v: unknown;
      try {
        v = parseYamlValue(text);
      } catch {
        v = text;
      }
      params[k] =
        typeof v === "number" || typeof v === "boolean" || typeof v === "string" ? v : text;
    }
  }
  return { params };
}

async function processCommand(argv: string[]): Promise<number> {
  const { values, positionals, fail } = parseCommand(argv, {
    name: "drover config process",
    usage: USAGE,
    options: {
      branch: { type: "string" },
      tag: { type: "string" },
      param: { type: "string", multiple: true },
      plan: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
    positionals: ["[path]"],
  });
  if (values.branch !== undefined && values.tag !== undefined) {
    fail("--branch and --tag cannot be combined");
  }
  const path = positionals[0] ?? DEFAULT_CONFIG_FILE;
  const { text } = read(path);
  const { params, bad } = parseParams(values.param ?? [], text);
  if (bad !== undefined) fail(`--param '${bad}' is not key=value`);
  const res = compileFile(
    path,
    pipelineValues({
      ...(values.branch !== undefined ? { branch: values.branch } : {}),
      ...(values.tag !== undefined ? { tag: values.tag } : {}),
      parameters: params,
    }),
  );
  if (values.json) {
    const out = {
      workflows: (res.plan?.workflows ?? []).map((w) => ({
        name: w.name,
        jobs: w.jobs.map((j) => ({
          name: j.name,
          requires: j.requires.map((r) => r.job),
          type: j.type,
          parallelism: j.parallelism,
        })),
      })),
      errors: res.errors,
      ...(res.warnings ? { warnings: res.warnings } : {}),
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
    return res.errors.length > 0 ? 1 : 0;
  }
  printErrors(res.warnings ?? []);
  if (res.errors.length > 0) {
    printErrors(res.errors);
    return 1;
  }
  if (values.plan) {
    const lines: string[] = [];
    for (const w of res.plan?.workflows ?? []) {
      lines.push(`workflow ${w.name}${w.schedule ? ` (schedule ${w.schedule.cron})` : ""}`);
      for (const j of w.jobs) {
        const req = j.requires.map((r) =>
          r.statuses.length === 1 && r.statuses[0] === "success"
            ? r.job
            : `${r.job}[${r.statuses.join("|")}]`,
        );
        const ex = j.executor
          ? j.executor.type === "docker"
            ? `docker ${j.executor.images[0]?.image}`
            : `machine ${j.executor.image}`
          : j.type;
        lines.push(
          `  ${j.name}${j.type === "approval" ? " (approval)" : ""}${j.noOp ? " (no-op)" : ""}` +
            `  [${ex}, ${j.resourceClass}${j.parallelism > 1 ? `, x${j.parallelism}` : ""}, ${j.steps.length} steps]` +
            (req.length ? `  requires: ${req.join(", ")}` : "") +
            (j.contexts.length ? `  context: ${j.contexts.join(", ")}` : ""),
        );
      }
    }
    process.stdout.write(`${lines.join("\n")}\n`);
    return 0;
  }
  process.stdout.write(res.processed ?? "");
  return 0;
}
