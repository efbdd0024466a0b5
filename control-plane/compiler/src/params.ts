/** Parameter declarations, argument binding with type checks, and `<< ... >>` interpolation. */
import { ConfigErrorCode } from "./errors.js";
import type { Diagnostics } from "./errors.js";
import { mkMap, mkScalar, mkSeq, scalarText } from "./yaml-source.js";
import type { PEntry, PMap, PNode, Pos, PScalar, Scalar } from "./yaml-source.js";

export const PARAM_TYPES = [
  "string",
  "boolean",
  "integer",
  "enum",
  "executor",
  "steps",
  "env_var_name",
] as const;
export type ParamType = (typeof PARAM_TYPES)[number];

export interface ParamDecl {
  name: string;
  type: ParamType;
  default?: PNode;
  enum?: string[];
  at: Pos;
  /** The default was present but invalid (reported once; not "missing" too). */
  badDefault?: boolean;
}

export type ParamDecls = Map<string, ParamDecl>;

const DECL_KEYS = new Set(["type", "default", "description", "enum"]);

/** Reads a `parameters:` map; `types` limits the allowed types (pipeline parameters). */
export function readParamDecls(
  node: PNode | undefined,
  diag: Diagnostics,
  types: readonly ParamType[] = PARAM_TYPES,
): ParamDecls {
  const out: ParamDecls = new Map();
  if (!node || (node.kind === "scalar" && node.value === null)) return out;
  if (node.kind !== "map") {
    diag.add(ConfigErrorCode.INVALID_VALUE, "`parameters` must be a map of parameter names", node);
    return out;
  }
  for (const e of node.entries) {
    const d = e.value;
    if (d.kind !== "map") {
      diag.add(
        ConfigErrorCode.INVALID_VALUE,
        `parameter '${e.key}' must be a map with a \`type\``,
        e.keyPos,
      );
      continue;
    }
    for (const k of d.entries) {
      if (!DECL_KEYS.has(k.key)) {
        diag.add(
          ConfigErrorCode.UNKNOWN_KEY,
          `unknown key '${k.key}' in parameter '${e.key}'`,
          k.keyPos,
        );
      }
    }
    const t = d.index.get("type");
    if (!t) {
      diag.add(ConfigErrorCode.MISSING_KEY, `parameter '${e.key}' has no \`type\``, e.keyPos);
      continue;
    }
    const tn = t.value.kind === "scalar" ? scalarText(t.value) : "";
    if (!(types as readonly string[]).includes(tn)) {
      diag.add(
        ConfigErrorCode.INVALID_VALUE,
        `parameter '${e.key}' has type '${tn}'; expected one of ${types.join(", ")}`,
        t.value,
      );
      continue;
    }
    const decl: ParamDecl = { name: e.key, type: tn as ParamType, at: e.keyPos };
    if (decl.type === "enum") {
      const en = d.index.get("enum");
      if (!en || en.value.kind !== "seq") {
        diag.add(
          ConfigErrorCode.MISSING_KEY,
          `enum parameter '${e.key}' needs an \`enum\` list`,
          e.keyPos,
        );
        continue;
      }
      decl.enum = en.value.items.map((i) => (i.kind === "scalar" ? scalarText(i) : ""));
    }
    const def = d.index.get("default");
    if (def) {
      const v = coerceParam(decl, def.value, diag, `default of parameter '${e.key}'`);
      if (v) decl.default = v;
      else decl.badDefault = true;
    }
    out.set(e.key, decl);
  }
  return out;
}

const ENV_VAR_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const INTEGER = /^-?\d+$/;

/** Checks `value` against the declaration; returns the normalized value or undefined (reported). */
export function coerceParam(
  decl: ParamDecl,
  value: PNode,
  diag: Diagnostics,
  what: string,
): PNode | undefined {
  const bad = (expected: string): undefined => {
    diag.add(
      ConfigErrorCode.PARAM_TYPE,
      `${what}: expected ${expected}, got ${describe(value)}`,
      value,
    );
    return undefined;
  };
  switch (decl.type) {
    case "string":
      if (value.kind !== "scalar") return bad("a string");
      return typeof value.value === "string" ? value : mkScalar(scalarText(value), value);
    case "boolean":
      if (value.kind === "scalar" && typeof value.value === "boolean") return value;
      return bad("a boolean");
    case "integer":
      if (value.kind === "scalar") {
        if (typeof value.value === "number" && Number.isInteger(value.value)) return value;
        if (typeof value.value === "string" && INTEGER.test(value.value.trim())) {
          return mkScalar(Number(value.value.trim()), value, value.value.trim());
        }
      }
      return bad("an integer");
    case "enum": {
      if (value.kind !== "scalar") return bad(`one of ${decl.enum?.join(", ")}`);
      const s = scalarText(value);
      if (!decl.enum?.includes(s)) return bad(`one of [${decl.enum?.join(", ")}]`);
      return typeof value.value === "string" ? value : mkScalar(s, value);
    }
    case "env_var_name":
      if (
        value.kind !== "scalar" ||
        typeof value.value !== "string" ||
        !ENV_VAR_NAME.test(value.value)
      ) {
        return bad("an environment variable name ([A-Za-z_][A-Za-z0-9_]*)");
      }
      return value;
    case "executor":
      if (value.kind === "map" || (value.kind === "scalar" && typeof value.value === "string")) {
        return value;
      }
      return bad("an executor name or map");
    case "steps":
      if (value.kind === "seq") return value;
      if (value.kind === "scalar" && value.value === null) return mkSeq([], value);
      if (value.kind === "map") return mkSeq([value], value);
      return bad("a list of steps");
  }
}

function describe(n: PNode): string {
  if (n.kind === "seq") return "a list";
  if (n.kind === "map") return "a map";
  if (n.value === null) return "null";
  return `${typeof n.value} '${scalarText(n)}'`;
}

/**
 * Binds invocation arguments to declarations: unknown arguments, missing required parameters and
 * type mismatches are all reported. `args` are the invocation's entries minus reserved keys.
 */
export function bindArgs(
  decls: ParamDecls,
  args: PEntry[],
  at: Pos,
  what: string,
  diag: Diagnostics,
  pipeline?: Map<string, Scalar>,
): Map<string, PNode> {
  const out = new Map<string, PNode>();
  const given = new Map<string, PEntry>();
  for (const a of args) {
    if (!decls.has(a.key)) {
      diag.add(ConfigErrorCode.UNKNOWN_ARGUMENT, `${what} has no parameter '${a.key}'`, a.keyPos);
      continue;
    }
    given.set(a.key, a);
  }
  for (const d of decls.values()) {
    const a = given.get(d.name);
    if (!a) {
      // Defaults may use pipeline values (`default: << pipeline.git.branch >>`).
      if (d.default) out.set(d.name, pipeline ? subst(d.default, { pipeline }, diag) : d.default);
      else if (!d.badDefault) {
        diag.add(
          ConfigErrorCode.PARAM_REQUIRED,
          `${what} requires parameter '${d.name}' (${d.type})`,
          at,
        );
      }
      continue;
    }
    const v = coerceParam(d, a.value, diag, `parameter '${d.name}' of ${what}`);
    if (v) out.set(d.name, v);
  }
  return out;
}

/** What a `<< ... >>` may refer to in one substitution pass. */
export interface Scope {
  /** `pipeline.*` values (`pipeline.git.branch`, `pipeline.parameters.x`, ...). */
  pipeline: Map<string, Scalar>;
  /** Bound `parameters.*`; absent where parameters are not available. */
  params?: Map<string, PNode>;
  /** Bound `matrix.*` (a workflow job invocation with a matrix). */
  matrix?: Map<string, PNode>;
  /** Where the parameters came from, for messages (`job 'build'`). */
  owner?: string;
}

const REF = /\\<<|<<\s*([A-Za-z][\w.-]*)\s*>>/g;
const WHOLE = /^\s*<<\s*([A-Za-z][\w.-]*)\s*>>\s*$/;
const KNOWN_PREFIX = /^(parameters|pipeline|matrix)\./;

/** Interpolates every `<< parameters|pipeline|matrix.x >>`; returns `node` itself when unchanged. */
export function subst(node: PNode, scope: Scope, diag: Diagnostics): PNode {
  switch (node.kind) {
    case "scalar":
      if (typeof node.value !== "string" || !node.value.includes("<<")) return node;
      return substScalar(node, node.value, scope, diag);
    case "seq": {
      if (node.tpl === false) return node;
      // Copy only from the first changed item: unchanged subtrees are shared, not reallocated.
      let items: PNode[] | undefined;
      for (let i = 0; i < node.items.length; i++) {
        const it = node.items[i]!;
        const r = subst(it, scope, diag);
        if (r !== it && !items) items = node.items.slice(0, i);
        if (items) items.push(r);
      }
      return items ? mkSeq(items, node) : node;
    }
    case "map": {
      if (node.tpl === false) return node;
      let entries: PEntry[] | undefined;
      for (let i = 0; i < node.entries.length; i++) {
        const e = node.entries[i]!;
        const v = subst(e.value, scope, diag);
        let key = e.key;
        if (key.includes("<<")) {
          const k = substScalar(mkScalar(key, e.keyPos), key, scope, diag);
          key = k.kind === "scalar" ? scalarText(k) : key;
        }
        const same = v === e.value && key === e.key;
        if (!same && !entries) entries = node.entries.slice(0, i);
        if (entries) entries.push(same ? e : { key, keyPos: e.keyPos, value: v });
      }
      return entries ? mkMap(entries, node) : node;
    }
  }
}

/** A parsed string template: literal text and references, in order. */
type Part = string | { ref: string };
interface Template {
  /** The whole string is one reference: substitute the typed value. */
  whole?: string;
  parts: Part[];
  changed: boolean;
}

const templates = new Map<string, Template>();

function template(text: string): Template {
  let t = templates.get(text);
  if (t) return t;
  const whole = WHOLE.exec(text);
  if (whole && KNOWN_PREFIX.test(whole[1] as string))
    t = { whole: whole[1] as string, parts: [], changed: true };
  else {
    const parts: Part[] = [];
    let last = 0;
    let changed = false;
    let lit = "";
    REF.lastIndex = 0;
    for (let m = REF.exec(text); m; m = REF.exec(text)) {
      const name = m[1];
      if (name !== undefined && !KNOWN_PREFIX.test(name)) continue;
      lit += text.slice(last, m.index);
      last = m.index + m[0].length;
      changed = true;
      if (name === undefined) lit += "<<";
      else {
        parts.push(lit, { ref: name });
        lit = "";
      }
    }
    lit += text.slice(last);
    parts.push(lit);
    t = { parts, changed };
  }
  if (templates.size > 50_000) templates.clear();
  templates.set(text, t);
  return t;
}

function lookup(name: string, scope: Scope, at: PScalar, diag: Diagnostics): PNode | undefined {
  if (name.startsWith("parameters.")) {
    const p = name.slice("parameters.".length);
    const v = scope.params?.get(p);
    if (v) return v;
    diag.add(
      ConfigErrorCode.UNDEFINED_PARAMETER,
      scope.params
        ? `<< ${name} >>: ${scope.owner ?? "this element"} declares no parameter '${p}'`
        : `<< ${name} >>: parameters are only available inside jobs, commands and executors`,
      at,
    );
    return undefined;
  }
  if (name.startsWith("matrix.")) {
    const v = scope.matrix?.get(name.slice("matrix.".length));
    if (v) return v;
    diag.add(
      ConfigErrorCode.UNDEFINED_PARAMETER,
      `<< ${name} >>: no such matrix parameter here`,
      at,
    );
    return undefined;
  }
  const v = scope.pipeline.get(name);
  if (v !== undefined) return mkScalar(v, at);
  diag.add(ConfigErrorCode.UNDEFINED_PARAMETER, `<< ${name} >>: unknown pipeline value`, at);
  return undefined;
}

function substScalar(node: PScalar, text: string, scope: Scope, diag: Diagnostics): PNode {
  const t = template(text);
  if (!t.changed) return node;
  if (t.whole !== undefined) return lookup(t.whole, scope, node, diag) ?? mkScalar("", node);
  let out = "";
  for (const p of t.parts) {
    if (typeof p === "string") {
      out += p;
      continue;
    }
    const v = lookup(p.ref, scope, node, diag);
    if (!v) continue;
    if (v.kind !== "scalar") {
      diag.add(
        ConfigErrorCode.PARAM_TYPE,
        `<< ${p.ref} >> is a ${v.kind === "seq" ? "list" : "map"} and cannot be part of a string`,
        node,
      );
      continue;
    }
    out += scalarText(v);
  }
  return mkScalar(out, node);
}

/** The `pipeline.*` scope for these pipeline values and resolved pipeline parameters. */
export function pipelineScope(
  p: {
    id: string;
    number: number;
    projectSlug: string;
    gitUrl: string;
    branch?: string;
    tag?: string;
    revision: string;
    triggerSource: string;
  },
  parameters: Record<string, string | number | boolean>,
): Map<string, Scalar> {
  const m = new Map<string, Scalar>([
    ["pipeline.id", p.id],
    ["pipeline.number", p.number],
    ["pipeline.project.git_url", p.gitUrl],
    ["pipeline.project.slug", p.projectSlug],
    ["pipeline.project.type", p.projectSlug.split("/")[0] ?? ""],
    ["pipeline.git.branch", p.branch ?? ""],
    ["pipeline.git.tag", p.tag ?? ""],
    ["pipeline.git.revision", p.revision],
    ["pipeline.git.base_revision", ""],
    ["pipeline.trigger_source", p.triggerSource],
    ["pipeline.schedule.name", ""],
    ["pipeline.schedule.id", ""],
  ]);
  for (const [k, v] of Object.entries(parameters)) m.set(`pipeline.parameters.${k}`, v);
  return m;
}

/** Entries of a map node minus `reserved` keys (the arguments of an invocation). */
export function argsOf(node: PMap | undefined, reserved: ReadonlySet<string>): PEntry[] {
  if (!node) return [];
  return node.entries.filter((e) => !reserved.has(e.key));
}

const NOT_INTERPOLATED = new Set(["parameters", "description"]);

/** Interpolates an element's body except its `parameters` declarations and `description`. */
export function substBody(body: PMap, scope: Scope, diag: Diagnostics): PMap {
  let changed = false;
  const entries = body.entries.map((e) => {
    if (NOT_INTERPOLATED.has(e.key)) return e;
    const v = subst(e.value, scope, diag);
    if (v === e.value) return e;
    changed = true;
    return { key: e.key, keyPos: e.keyPos, value: v };
  });
  return changed ? mkMap(entries, body) : body;
}
