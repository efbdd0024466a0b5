/** Steps: built-ins normalized into `StepPlan`s, `when`/`unless` evaluated, commands expanded. */
import { ConfigErrorCode } from "./errors.js";
import type { Diagnostics } from "./errors.js";
import { evalLogicSafe } from "./logic.js";
import { declsOf, isUnresolved, lookup } from "./orbs.js";
import type { Element, Namespace } from "./orbs.js";
import { bindArgs, subst } from "./params.js";
import { asBool, asEnv, asString, asStringList, checkKeys, parseDuration } from "./shape.js";
import type { StepPlan, StepWhen } from "./plan.js";
import { mkMap, scalarText } from "./yaml-source.js";
import type { PMap, PNode, Pos, Scalar } from "./yaml-source.js";

/** Commands invoking commands deeper than this are refused (recursion). */
export const MAX_COMMAND_DEPTH = 50;
/** CircleCI's default `no_output_timeout`. */
export const DEFAULT_NO_OUTPUT_TIMEOUT_MS = 10 * 60 * 1000;

export interface ExpandContext {
  diag: Diagnostics;
  pipeline: Map<string, Scalar>;
  /** 2.1 configs interpolate `<< >>`; 2.0 configs are taken literally. */
  interpolate: boolean;
  /** Commands being expanded (outermost first), for recursion detection. */
  stack: Element[];
  /** Steps produced so far in this compilation (matrices and commands multiply them). */
  budget: { steps: number; exceeded: boolean };
}

/** A plan with more steps than this is refused (a config that expands without bound). */
export const MAX_PLAN_STEPS = 500_000;

const BUILTINS = new Set([
  "run",
  "deploy",
  "checkout",
  "save_cache",
  "restore_cache",
  "store_artifacts",
  "store_test_results",
  "persist_to_workspace",
  "attach_workspace",
  "add_ssh_keys",
  "setup_remote_docker",
]);

/** Expands a steps list (already interpolated in its own scope) into `out`. */
export function expandSteps(
  list: PNode | undefined,
  ns: Namespace,
  ctx: ExpandContext,
  out: StepPlan[],
): void {
  if (!list || (list.kind === "scalar" && list.value === null)) return;
  if (list.kind !== "seq") {
    ctx.diag.add(ConfigErrorCode.INVALID_VALUE, "`steps` must be a list", list);
    return;
  }
  for (const item of list.items) {
    if (ctx.budget.exceeded) return;
    expandStep(item, ns, ctx, out);
  }
}

function expandStep(item: PNode, ns: Namespace, ctx: ExpandContext, out: StepPlan[]): void {
  const { diag } = ctx;
  if (item.kind === "seq") {
    // A `steps` parameter (or an aliased list) used as one item: splice it in.
    expandSteps(item, ns, ctx, out);
    return;
  }
  let name: string;
  let arg: PNode | undefined;
  let at: Pos = item;
  if (item.kind === "scalar") {
    if (item.value === null) return;
    name = scalarText(item);
  } else {
    const flat = item.entries.length > 1 ? flattened(item, ns, diag) : undefined;
    if (flat) item = flat;
    if (item.entries.length !== 1) {
      diag.add(
        ConfigErrorCode.INVALID_VALUE,
        item.entries.length === 0
          ? "empty step"
          : `a step is a map with exactly one key (the step name); found ${item.entries
              .map((e) => `'${e.key}'`)
              .join(", ")}: check the indentation`,
        item,
      );
      return;
    }
    const e = item.entries[0]!;
    name = e.key;
    arg = e.value;
    at = e.keyPos;
  }
  if (name === "steps") {
    // `- steps: << parameters.x >>`: a steps parameter wrapped under a `steps` key.
    expandSteps(arg, ns, ctx, out);
    return;
  }
  if (name === "when" || name === "unless") {
    conditional(name, arg, at, ns, ctx, out);
    return;
  }
  if (BUILTINS.has(name)) {
    const s = builtin(name, arg, at, diag);
    if (!s) return;
    out.push(s);
    if (++ctx.budget.steps > MAX_PLAN_STEPS) {
      ctx.budget.exceeded = true;
      diag.add(
        ConfigErrorCode.TOO_LARGE,
        `the config expands to more than ${MAX_PLAN_STEPS} steps; refusing it`,
        at,
      );
    }
    return;
  }
  const el = lookup(ns, "commands", name);
  if (isUnresolved(el)) return;
  if (!el) {
    if (name.includes("/")) {
      diag.add(ConfigErrorCode.UNDEFINED_COMMAND, `command '${name}' is not defined`, at);
    } else {
      diag.add(
        ConfigErrorCode.UNKNOWN_STEP,
        `unknown step '${name}': not a built-in step or a command under \`commands\``,
        at,
      );
    }
    return;
  }
  invokeCommand(el, arg, at, ctx, out);
}

/**
 * `- cmd:` with its arguments at the same indentation (`{cmd: null, arg: v}`): CircleCI accepts
 * this form, so Drover reads the other keys as the arguments and warns.
 */
function flattened(item: PMap, ns: Namespace, diag: Diagnostics): PMap | undefined {
  const heads = item.entries.filter(
    (e) =>
      e.value.kind === "scalar" &&
      e.value.value === null &&
      (BUILTINS.has(e.key) || lookup(ns, "commands", e.key) !== undefined),
  );
  if (heads.length !== 1) return undefined;
  const head = heads[0]!;
  diag.warn(
    ConfigErrorCode.WARN_FLATTENED_STEP,
    `the arguments of step '${head.key}' should be indented under it`,
    head.keyPos,
  );
  const args = item.entries.filter((e) => e !== head);
  return mkMap([{ key: head.key, keyPos: head.keyPos, value: mkMap(args, args[0]!.keyPos) }], item);
}

export const COMMAND_KEYS = new Set(["steps", "parameters", "description"]);

function invokeCommand(
  el: Element,
  arg: PNode | undefined,
  at: Pos,
  ctx: ExpandContext,
  out: StepPlan[],
): void {
  const { diag } = ctx;
  if (ctx.stack.includes(el) || ctx.stack.length >= MAX_COMMAND_DEPTH) {
    diag.add(
      ConfigErrorCode.RECURSION,
      `command '${el.qualified}' invokes itself (${[...ctx.stack, el].map((s) => s.qualified).join(" -> ")})`,
      at,
    );
    return;
  }
  checkKeys(el.body, COMMAND_KEYS, `command '${el.qualified}'`, diag);
  let args: PMap | undefined;
  if (arg && arg.kind === "map") args = arg;
  else if (arg && !(arg.kind === "scalar" && arg.value === null)) {
    diag.add(
      ConfigErrorCode.INVALID_VALUE,
      `arguments of command '${el.qualified}' must be a map`,
      arg,
    );
  }
  const what = `command '${el.qualified}'`;
  const bound = bindArgs(
    declsOf(el, diag),
    args?.entries ?? [],
    at,
    what,
    diag,
    ctx.interpolate ? ctx.pipeline : undefined,
  );
  let steps = el.body.index.get("steps")?.value;
  if (!steps) {
    diag.add(ConfigErrorCode.MISSING_KEY, `${what} has no \`steps\``, el.at);
    return;
  }
  if (ctx.interpolate)
    steps = subst(steps, { pipeline: ctx.pipeline, params: bound, owner: what }, diag);
  ctx.stack.push(el);
  expandSteps(steps, el.ns, ctx, out);
  ctx.stack.pop();
}

function conditional(
  kind: "when" | "unless",
  arg: PNode | undefined,
  at: Pos,
  ns: Namespace,
  ctx: ExpandContext,
  out: StepPlan[],
): void {
  const { diag } = ctx;
  if (!arg || arg.kind !== "map") {
    diag.add(
      ConfigErrorCode.INVALID_VALUE,
      `a \`${kind}\` step needs \`condition\` and \`steps\``,
      at,
    );
    return;
  }
  checkKeys(arg, new Set(["condition", "steps"]), `\`${kind}\` step`, diag);
  const cond = arg.index.get("condition")?.value;
  const steps = arg.index.get("steps")?.value;
  if (!cond || !steps) {
    diag.add(
      ConfigErrorCode.MISSING_KEY,
      `a \`${kind}\` step needs \`condition\` and \`steps\``,
      at,
    );
    return;
  }
  const v = evalLogicSafe(cond, diag);
  // Like CircleCI, a branch that is not taken is pruned before it is checked.
  if (v === (kind === "when")) expandSteps(steps, ns, ctx, out);
}

const DEFAULT_NAMES: Record<string, string> = {
  checkout: "Checkout code",
  save_cache: "Saving Cache",
  restore_cache: "Restoring Cache",
  store_artifacts: "Uploading artifacts",
  store_test_results: "Uploading test results",
  persist_to_workspace: "Persisting to Workspace",
  attach_workspace: "Attaching Workspace",
  add_ssh_keys: "Add SSH Keys",
  setup_remote_docker: "Setup a remote Docker engine",
};

const STEP_KEYS: Record<string, Set<string>> = {
  run: new Set([
    "name",
    "command",
    "shell",
    "environment",
    "background",
    "working_directory",
    "no_output_timeout",
    "when",
  ]),
  checkout: new Set(["name", "path", "when", "method"]),
  save_cache: new Set(["name", "key", "paths", "when"]),
  // `paths` is accepted (and ignored) by CircleCI on restore_cache; real configs carry it.
  restore_cache: new Set(["name", "key", "keys", "when", "paths"]),
  store_artifacts: new Set(["name", "path", "destination", "when"]),
  store_test_results: new Set(["name", "path", "when"]),
  persist_to_workspace: new Set(["name", "root", "paths", "when"]),
  attach_workspace: new Set(["name", "at", "when"]),
  add_ssh_keys: new Set(["name", "fingerprints", "when"]),
  setup_remote_docker: new Set(["name", "version", "docker_layer_caching", "when"]),
};

function required(m: PMap, key: string, step: string, at: Pos, diag: Diagnostics): string {
  const v = asString(m.index.get(key)?.value, `${step}.${key}`, diag);
  if (v === undefined) {
    diag.add(ConfigErrorCode.MISSING_KEY, `\`${step}\` needs \`${key}\``, at);
    return "";
  }
  return v;
}

function builtin(
  name: string,
  arg: PNode | undefined,
  at: Pos,
  diag: Diagnostics,
): StepPlan | undefined {
  const type = name === "deploy" ? "run" : name;
  let m: PMap | undefined;
  if (arg && arg.kind === "map") m = arg;
  else if (type === "run" && arg && arg.kind === "scalar" && arg.value !== null) {
    const command = scalarText(arg);
    return runStep(
      command,
      command,
      "on_success",
      {},
      false,
      undefined,
      undefined,
      DEFAULT_NO_OUTPUT_TIMEOUT_MS,
    );
  } else if (arg && !(arg.kind === "scalar" && arg.value === null)) {
    diag.add(ConfigErrorCode.INVALID_VALUE, `\`${name}\` takes a map of options`, arg);
    return undefined;
  }
  const opts: PMap = m ?? {
    kind: "map",
    entries: [],
    index: new Map(),
    src: at.src,
    offset: at.offset,
  };
  // CircleCI ignores unknown options on built-in steps (real configs carry typos and extra
  // `description`s): a warning, not an error.
  const known = STEP_KEYS[type] as Set<string>;
  for (const e of opts.entries) {
    if (!known.has(e.key)) {
      diag.warn(
        ConfigErrorCode.WARN_UNKNOWN_STEP_OPTION,
        `unknown option '${e.key}' on \`${name}\` step (ignored)`,
        e.keyPos,
      );
    }
  }
  const label = asString(opts.index.get("name")?.value, `${name}.name`, diag);
  const whenNode = opts.index.get("when")?.value;
  let when: StepWhen = "on_success";
  if (whenNode) {
    const w = asString(whenNode, `${name}.when`, diag);
    if (w === "always" || w === "on_success" || w === "on_fail") when = w;
    else
      diag.add(
        ConfigErrorCode.INVALID_VALUE,
        `\`when\` must be always, on_success or on_fail`,
        whenNode,
      );
  }
  const dflt = DEFAULT_NAMES[type] ?? type;
  const get = (k: string): PNode | undefined => opts.index.get(k)?.value;
  switch (type) {
    case "run": {
      const command = required(opts, "command", name, at, diag);
      const t = get("no_output_timeout");
      const timeout = t ? parseDuration(t, `${name}.no_output_timeout`, diag) : undefined;
      return runStep(
        label ?? command,
        command,
        when,
        asEnv(get("environment"), `${name}.environment`, diag),
        asBool(get("background"), `${name}.background`, diag) ?? false,
        asString(get("shell"), `${name}.shell`, diag),
        asString(get("working_directory"), `${name}.working_directory`, diag),
        timeout ?? DEFAULT_NO_OUTPUT_TIMEOUT_MS,
      );
    }
    case "checkout": {
      const s: StepPlan = { type: "checkout", name: label ?? dflt, when };
      const path = asString(get("path"), "checkout.path", diag);
      if (path !== undefined) s.path = path;
      const method = asString(get("method"), "checkout.method", diag);
      if (method !== undefined) s.method = method;
      return s;
    }
    case "save_cache":
      return {
        type: "save_cache",
        name: label ?? dflt,
        when,
        key: required(opts, "key", name, at, diag),
        paths: asStringList(get("paths"), "save_cache.paths", diag),
      };
    case "restore_cache": {
      const keys = [
        ...asStringList(get("key"), "restore_cache.key", diag),
        ...asStringList(get("keys"), "restore_cache.keys", diag),
      ];
      if (keys.length === 0)
        diag.add(ConfigErrorCode.MISSING_KEY, "`restore_cache` needs `key` or `keys`", at);
      return { type: "restore_cache", name: label ?? dflt, when, keys };
    }
    case "store_artifacts": {
      const s: StepPlan = {
        type: "store_artifacts",
        name: label ?? dflt,
        when,
        path: required(opts, "path", name, at, diag),
      };
      const d = asString(get("destination"), "store_artifacts.destination", diag);
      if (d !== undefined) s.destination = d;
      return s;
    }
    case "store_test_results":
      return {
        type: "store_test_results",
        name: label ?? dflt,
        when,
        path: required(opts, "path", name, at, diag),
      };
    case "persist_to_workspace":
      return {
        type: "persist_to_workspace",
        name: label ?? dflt,
        when,
        root: required(opts, "root", name, at, diag),
        paths: asStringList(get("paths"), "persist_to_workspace.paths", diag),
      };
    case "attach_workspace":
      return {
        type: "attach_workspace",
        name: label ?? dflt,
        when,
        at: required(opts, "at", name, at, diag),
      };
    case "add_ssh_keys":
      return {
        type: "add_ssh_keys",
        name: label ?? dflt,
        when,
        fingerprints: asStringList(get("fingerprints"), "add_ssh_keys.fingerprints", diag),
      };
    case "setup_remote_docker": {
      const s: StepPlan = {
        type: "setup_remote_docker",
        name: label ?? dflt,
        when,
        dockerLayerCaching:
          asBool(get("docker_layer_caching"), "setup_remote_docker.docker_layer_caching", diag) ??
          false,
      };
      const v = asString(get("version"), "setup_remote_docker.version", diag);
      if (v !== undefined) s.version = v;
      return s;
    }
  }
  return undefined;
}

function runStep(
  name: string,
  command: string,
  when: StepWhen,
  environment: Record<string, string>,
  background: boolean,
  shell: string | undefined,
  workingDirectory: string | undefined,
  noOutputTimeoutMs: number,
): StepPlan {
  const s: StepPlan = {
    type: "run",
    name,
    when,
    command,
    environment,
    background,
    noOutputTimeoutMs,
  };
  if (shell !== undefined) s.shell = shell;
  if (workingDirectory !== undefined) s.workingDirectory = workingDirectory;
  return s;
}
