/** CircleCI logic statements (`and`, `or`, `not`, `equal`, `matches`) for `when`/`unless`. */
import { ConfigErrorCode } from "./errors.js";
import type { Diagnostics } from "./errors.js";
import { wholeRegex } from "./regex.js";
import { deepEqual, scalarText } from "./yaml-source.js";
import type { PNode } from "./yaml-source.js";

/** Deeper logic nesting is refused. */
export const MAX_LOGIC_DEPTH = 100;

/** Evaluates a logic statement; problems are reported and count as false. */
export function evalLogic(node: PNode, diag: Diagnostics): boolean {
  return evaluate(node, diag, 0);
}

function truthy(n: PNode): boolean {
  if (n.kind === "seq") return n.items.length > 0;
  if (n.kind === "map") return n.entries.length > 0;
  const v = n.value;
  if (v === null || v === false || v === "") return false;
  if (typeof v === "number") return v !== 0 && !Number.isNaN(v);
  return true;
}

function evaluate(node: PNode, diag: Diagnostics, depth: number): boolean {
  if (depth > MAX_LOGIC_DEPTH) {
    diag.add(
      ConfigErrorCode.LOGIC_DEPTH,
      `logic statement nested deeper than ${MAX_LOGIC_DEPTH} levels`,
      node,
    );
    throw new LogicDepthExceeded();
  }
  if (node.kind !== "map") return truthy(node);
  if (node.entries.length !== 1) {
    if (node.entries.length === 0) return false;
    diag.add(
      ConfigErrorCode.INVALID_VALUE,
      "a logic statement has exactly one operator (and, or, not, equal, matches)",
      node,
    );
    return false;
  }
  const op = node.entries[0]!;
  const arg = op.value;
  const list = (): PNode[] | undefined => {
    if (arg.kind === "seq") return arg.items;
    diag.add(ConfigErrorCode.INVALID_VALUE, `\`${op.key}\` takes a list`, arg);
    return undefined;
  };
  switch (op.key) {
    case "and": {
      const items = list();
      if (!items || items.length === 0) return false;
      let all = true;
      for (const i of items) if (!evaluate(i, diag, depth + 1)) all = false;
      return all;
    }
    case "or": {
      const items = list();
      if (!items || items.length === 0) return false;
      let any = false;
      for (const i of items) if (evaluate(i, diag, depth + 1)) any = true;
      return any;
    }
    case "not":
      return !evaluate(arg, diag, depth + 1);
    case "equal": {
      const items = list();
      if (!items || items.length === 0) return false;
      for (const i of items) checkDepth(i, diag, depth + 1);
      const first = items[0]!;
      return items.every((i) => deepEqual(first, i));
    }
    case "matches": {
      if (arg.kind !== "map") {
        diag.add(
          ConfigErrorCode.INVALID_VALUE,
          "`matches` takes a map with `pattern` and `value`",
          arg,
        );
        return false;
      }
      const pattern = arg.index.get("pattern")?.value;
      const value = arg.index.get("value")?.value;
      for (const e of arg.entries) {
        if (e.key !== "pattern" && e.key !== "value") {
          diag.add(ConfigErrorCode.UNKNOWN_KEY, `unknown key '${e.key}' in \`matches\``, e.keyPos);
        }
      }
      if (!pattern || pattern.kind !== "scalar" || !value || value.kind !== "scalar") {
        diag.add(ConfigErrorCode.MISSING_KEY, "`matches` needs scalar `pattern` and `value`", arg);
        return false;
      }
      const re = wholeRegex(scalarText(pattern), pattern, diag);
      return re ? re.test(scalarText(value)) : false;
    }
    default:
      diag.add(
        ConfigErrorCode.INVALID_VALUE,
        `unknown logic operator '${op.key}' (expected and, or, not, equal, matches)`,
        op.keyPos,
      );
      return false;
  }
}

/** Values compared by `equal` may be deep structures: bound their depth too. */
function checkDepth(n: PNode, diag: Diagnostics, depth: number): void {
  if (n.kind === "scalar") return;
  if (depth > MAX_LOGIC_DEPTH) evaluate(n, diag, depth);
  const kids = n.kind === "seq" ? n.items : n.entries.map((e) => e.value);
  for (const k of kids) checkDepth(k, diag, depth + 1);
}

/** Thrown to unwind a too-deep statement once it has been reported. */
export class LogicDepthExceeded extends Error {
  constructor() {
    super("logic nesting limit exceeded");
  }
}

/** Evaluates, turning the depth unwind into `false`. */
export function evalLogicSafe(node: PNode, diag: Diagnostics): boolean {
  try {
    return evalLogic(node, diag);
  } catch (e) {
    if (e instanceof LogicDepthExceeded) return false;
    throw e;
  }
}
