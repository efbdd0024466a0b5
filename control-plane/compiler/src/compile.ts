/** The compiler entry: config text + pipeline values -> plan, processed YAML, every error. */
import { ConfigErrorCode, Diagnostics } from "./errors.js";
import { buildNamespace, declsOf, isUnresolved } from "./orbs.js";
import { EXECUTOR_KEYS } from "./executors.js";
import { JOB_KEYS } from "./jobs.js";
import { COMMAND_KEYS } from "./steps.js";
import type { Namespace, OrbContext, UnresolvedOrb } from "./orbs.js";
import { pipelineScope, readParamDecls } from "./params.js";
import type { ParamDecls } from "./params.js";
import type { CompileOptions, CompileResult, PipelinePlan, WorkflowPlan } from "./plan.js";
import { renderProcessed } from "./processed.js";
import { asBool, checkKeys } from "./shape.js";
import { compileWorkflow, planWorkflow } from "./workflows.js";
import type { WorkflowContext, WorkflowResult } from "./workflows.js";
import { mkMap, mkScalar, mkSeq, parseYaml, scalarText, toPlain } from "./yaml-source.js";
import type { PMap, PNode, Pos } from "./yaml-source.js";

export const DEFAULT_CONFIG_FILE = ".circleci/config.yml";
const VERSIONS = new Set(["2", "2.0", "2.1"]);
const ONLY_21 = ["orbs", "commands", "executors", "parameters", "setup"];

/** Compiles a config. Never throws for bad input: everything wrong is in `errors`. */
export function compile(source: string, opts: CompileOptions): CompileResult {
  const file = opts.file ?? DEFAULT_CONFIG_FILE;
  const diag = new Diagnostics(file);
  try {
    return compileInto(source, opts, file, diag);
  } catch (err) {
    // Pathological nesting can exhaust the stack in a recursive stage: report, never throw.
    if (err instanceof RangeError && /call stack/i.test(err.message)) {
      diag.add(ConfigErrorCode.TOO_DEEP, "the config is nested too deeply to process");
      return { errors: diag.errors };
    }
    throw err;
  }
}

function compileInto(
  source: string,
  opts: CompileOptions,
  file: string,
  diag: Diagnostics,
): CompileResult {
  const parsed = parseYaml(source, file, diag);
  const root = parsed.root;
  if (!root) return { errors: diag.errors };
  const at0: Pos = { src: parsed.src, offset: 0 };
  if (root.kind !== "map") {
    diag.add(
      ConfigErrorCode.INVALID_VALUE,
      "a config must be a map with `version`, `jobs` and `workflows`",
      root,
    );
    return { errors: diag.errors };
  }

  const v = root.index.get("version");
  let version = "";
  if (!v) diag.add(ConfigErrorCode.VERSION, "missing `version` (2, 2.0 or 2.1)", at0);
  else {
    version = v.value.kind === "scalar" ? scalarText(v.value) : "";
    if (!VERSIONS.has(version)) {
      diag.add(
        ConfigErrorCode.VERSION,
        `version '${version}' is not supported (2, 2.0 or 2.1)`,
        v.value,
      );
    }
  }
  const interpolate = version === "2.1";
  if (version === "2" || version === "2.0") {
    for (const k of ONLY_21) {
      const e = root.index.get(k);
      if (e) diag.add(ConfigErrorCode.VERSION, `\`${k}\` needs \`version: 2.1\``, e.keyPos);
    }
  }

  // Pipeline parameters: declared defaults, then trigger overrides, type-checked.
  const declNode = interpolate ? root.index.get("parameters") : undefined;
  const decls = readParamDecls(declNode?.value, diag, ["string", "boolean", "integer", "enum"]);
  const parameters = resolvePipelineParameters(
    decls,
    opts.pipeline.parameters,
    declNode?.keyPos ?? at0,
    diag,
  );
  const pipeline = pipelineScope(opts.pipeline, parameters);

  const loaded = new Map<string, Namespace | UnresolvedOrb>();
  const orbCtx: OrbContext = { diag, scope: { pipeline }, loaded, depth: 0 };
  if (opts.orbsDir !== undefined) orbCtx.orbsDir = opts.orbsDir;
  const rootNs = buildNamespace("", interpolate ? root : withoutReusables(root), orbCtx);
  checkTopLevel(root, diag);
  checkDefinitions(rootNs, diag, new Set());

  const ctx: WorkflowContext = {
    diag,
    pipeline,
    interpolate,
    stack: [],
    budget: { steps: 0, exceeded: false },
    root: rootNs,
    values: opts.pipeline,
  };

  const results: WorkflowResult[] = [];
  const schedules: NonNullable<PipelinePlan["schedules"]> = [];
  const workflows = root.index.get("workflows");
  if (workflows && !(workflows.value.kind === "scalar" && workflows.value.value === null)) {
    if (workflows.value.kind !== "map") {
      diag.add(
        ConfigErrorCode.INVALID_VALUE,
        "`workflows` must be a map of workflow names",
        workflows.value,
      );
    } else {
      for (const e of workflows.value.entries) {
        if (e.key === "version" && e.value.kind === "scalar") continue;
        const r = compileWorkflow(e.key, e.keyPos, e.value, ctx);
        results.push(r);
        if (r.schedule) schedules.push({ workflow: r.name, ...r.schedule });
      }
    }
  } else {
    const implicit = implicitWorkflow(root, at0, diag);
    if (implicit) results.push(compileWorkflow("workflow", at0, implicit, ctx));
  }

  if (diag.count > 0) return withWarnings({ errors: diag.errors }, diag);
  const planned: WorkflowPlan[] = [];
  for (const r of results) {
    const w = planWorkflow(r, opts.pipeline);
    if (w) planned.push(w);
  }
  const plan: PipelinePlan = { version, parameters, workflows: planned };
  const setup = root.index.get("setup");
  if (setup && asBool(setup.value, "setup", diag)) plan.setup = true;
  if (schedules.length > 0) plan.schedules = schedules;
  const result: CompileResult = { plan, errors: diag.errors };
  // Rendering YAML costs as much as compiling; most callers only want the plan, so it is
  // rendered on first read (and kept).
  let processed: string | undefined;
  Object.defineProperty(result, "processed", {
    enumerable: true,
    get: () => (processed ??= renderProcessed(results)),
  });
  return withWarnings(result, diag);
}

function withWarnings(r: CompileResult, diag: Diagnostics): CompileResult {
  if (diag.warnings.length > 0) r.warnings = diag.warnings;
  return r;
}

const TOP_LEVEL = [
  "version",
  "jobs",
  "workflows",
  "orbs",
  "commands",
  "executors",
  "parameters",
  "setup",
];

/**
 * Other top-level keys are allowed (configs keep anchors under `aliases:`, `references:`...), but
 * one that is a near miss of a real key (`workflow:`) is an error: it would be silently ignored.
 */
function checkTopLevel(root: PMap, diag: Diagnostics): void {
  for (const e of root.entries) {
    if (TOP_LEVEL.includes(e.key)) continue;
    const near = TOP_LEVEL.find((k) => editDistance(e.key, k) <= (k.length >= 5 ? 2 : 1));
    if (near) {
      diag.add(
        ConfigErrorCode.UNKNOWN_KEY,
        `unknown top-level key '${e.key}' (did you mean '${near}'?)`,
        e.keyPos,
      );
    }
  }
}

function editDistance(a: string, b: string): number {
  if (Math.abs(a.length - b.length) > 2) return 3;
  let prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      cur[j] = Math.min(
        prev[j]! + 1,
        cur[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = cur;
  }
  return prev[b.length]!;
}

/** Keys and parameter declarations of every definition, used or not (CircleCI checks them all). */
function checkDefinitions(ns: Namespace, diag: Diagnostics, seen: Set<Namespace>): void {
  if (seen.has(ns)) return;
  seen.add(ns);
  const keys = { jobs: JOB_KEYS, commands: COMMAND_KEYS, executors: EXECUTOR_KEYS } as const;
  for (const kind of ["jobs", "commands", "executors"] as const) {
    for (const el of ns[kind].values()) {
      checkKeys(el.body, keys[kind], `${kind.slice(0, -1)} '${el.qualified}'`, diag);
      declsOf(el, diag);
    }
  }
  for (const o of ns.orbs.values()) if (!isUnresolved(o)) checkDefinitions(o, diag, seen);
}

/** 2.0 configs have no reusable elements: only `jobs` is read (the keys were reported). */
function withoutReusables(root: PMap): PMap {
  return mkMap(
    root.entries.filter((e) => e.key === "jobs"),
    root,
  );
}

/** A 2.0-style config without `workflows`: its `build` job runs alone. */
function implicitWorkflow(root: PMap, at: Pos, diag: Diagnostics): PNode | undefined {
  const jobs = root.index.get("jobs")?.value;
  const build = jobs?.kind === "map" ? jobs.index.get("build") : undefined;
  if (!build) {
    diag.add(
      ConfigErrorCode.NO_WORKFLOWS,
      "no `workflows`, and no job named `build` to run without one",
      root.index.get("jobs")?.keyPos ?? at,
    );
    return undefined;
  }
  // The legacy job-level `branches` filter applies here.
  const branches = build.value.kind === "map" ? build.value.index.get("branches") : undefined;
  const item = branches
    ? mkMap(
        [
          {
            key: "build",
            keyPos: build.keyPos,
            value: mkMap(
              [
                {
                  key: "filters",
                  keyPos: branches.keyPos,
                  value: mkMap([branches], branches.keyPos),
                },
              ],
              build.keyPos,
            ),
          },
        ],
        build.keyPos,
      )
    : mkScalar("build", build.keyPos);
  return mkMap(
    [{ key: "jobs", keyPos: build.keyPos, value: mkSeq([item], build.keyPos) }],
    build.keyPos,
  );
}

function resolvePipelineParameters(
  decls: ParamDecls,
  overrides: Record<string, string | number | boolean>,
  at: Pos,
  diag: Diagnostics,
): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const [k, val] of Object.entries(overrides)) {
    const d = decls.get(k);
    if (!d) {
      diag.add(
        ConfigErrorCode.PIPELINE_PARAM,
        `trigger parameter '${k}' is not declared under \`parameters\``,
        at,
      );
      continue;
    }
    const ok =
      (d.type === "string" && typeof val === "string") ||
      (d.type === "boolean" && typeof val === "boolean") ||
      (d.type === "integer" && typeof val === "number" && Number.isInteger(val)) ||
      (d.type === "enum" && d.enum !== undefined && d.enum.includes(String(val)));
    if (!ok) {
      diag.add(
        ConfigErrorCode.PIPELINE_PARAM,
        `trigger parameter '${k}' is ${typeof val} ${JSON.stringify(val)}; the config declares it ${
          d.type === "enum" ? `enum [${d.enum?.join(", ")}]` : d.type
        }`,
        d.at,
      );
      continue;
    }
    out[k] = d.type === "enum" ? String(val) : val;
  }
  for (const d of decls.values()) {
    if (d.name in out) continue;
    if (!d.default) {
      if (d.name in overrides || d.badDefault) continue;
      diag.add(
        ConfigErrorCode.PARAM_REQUIRED,
        `pipeline parameter '${d.name}' has no default and was not given`,
        d.at,
      );
      continue;
    }
    const v = toPlain(d.default);
    if (typeof v === "string" || typeof v === "number" || typeof v === "boolean") out[d.name] = v;
  }
  return out;
}
