/** Steps: built-ins normalized into `StepPlan`s, `when`/`unless` evaluated, commands expanded. */
import { ConfigErrorCode } from "./errors.js";
import type { Diagnostics } from "./errors.js";
import { evalLogicSafe } from "./logic.js";
import { declsOf, isUnresolved, lookup } from "./orbs.js";
import type { Element, Namespace } from "./orbs.js";
import { bindArgs, subst } from "./params.js";
import { BUILTINS, LEGACY_STEP_NAMES, builtin } from "./builtin-steps.js";
import type { StepPlan } from "./plan.js";
import { checkKeys } from "./shape.js";
import { mkMap, scalarText } from "./yaml-source.js";
import type { PMap, PNode, Pos, Scalar } from "./yaml-source.js";

/** Commands invoking commands deeper than this are refused (recursion). */
export const MAX_COMMAND_DEPTH = 50;

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
  const legacy = LEGACY_STEP_NAMES.get(name);
  if (legacy && !lookup(ns, "commands", name)) {
    diag.warn(
      ConfigErrorCode.WARN_LEGACY_STEP_NAME,
      `'${name}' is CircleCI 2.0's old spelling of \`${legacy}\`; read as \`${legacy}\``,
      at,
    );
    name = legacy;
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
      (BUILTINS.has(e.key) ||
        LEGACY_STEP_NAMES.has(e.key) ||
        lookup(ns, "commands", e.key) !== undefined),
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
