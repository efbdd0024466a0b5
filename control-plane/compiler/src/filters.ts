/** Branch and tag filters (`only`/`ignore`, names or whole-string `/regex/`). */
import { ConfigErrorCode } from "./errors.js";
import type { Diagnostics } from "./errors.js";
import type { PipelineValues } from "./plan.js";
import { filterMatcher } from "./regex.js";
import { checkKeys } from "./shape.js";
import { scalarText, toPlain } from "./yaml-source.js";
import type { PMap, PNode } from "./yaml-source.js";

export interface Matcher {
  only?: Array<(s: string) => boolean>;
  ignore?: Array<(s: string) => boolean>;
}

export interface Filters {
  branches?: Matcher;
  tags?: Matcher;
  /** As written, for the processed config. */
  plain: unknown;
}

export function readMatcher(n: PMap, what: string, diag: Diagnostics): Matcher {
  checkKeys(n, new Set(["only", "ignore"]), what, diag);
  const m: Matcher = {};
  for (const k of ["only", "ignore"] as const) {
    const v = n.index.get(k)?.value;
    if (!v) continue;
    const list = v.kind === "seq" ? v.items : [v];
    const fns: Array<(s: string) => boolean> = [];
    for (const item of list) {
      if (item.kind === "seq") {
        for (const s of item.items) {
          const f = s.kind === "scalar" ? filterMatcher(scalarText(s), s, diag) : undefined;
          if (f) fns.push(f);
        }
        continue;
      }
      if (item.kind !== "scalar") {
        diag.add(
          ConfigErrorCode.INVALID_VALUE,
          `${what}.${k} must be a name, /regex/ or a list of them`,
          item,
        );
        continue;
      }
      if (item.value === null) continue;
      const f = filterMatcher(scalarText(item), item, diag);
      if (f) fns.push(f);
    }
    m[k] = fns;
  }
  return m;
}

export function readFilters(n: PNode, diag: Diagnostics): Filters | undefined {
  if (n.kind === "scalar" && n.value === null) return undefined;
  if (n.kind !== "map") {
    diag.add(
      ConfigErrorCode.INVALID_VALUE,
      "`filters` must be a map with `branches` and/or `tags`",
      n,
    );
    return undefined;
  }
  checkKeys(n, new Set(["branches", "tags"]), "`filters`", diag);
  const f: Filters = { plain: toPlain(n) };
  for (const k of ["branches", "tags"] as const) {
    const v = n.index.get(k)?.value;
    if (!v || (v.kind === "scalar" && v.value === null)) continue;
    if (v.kind !== "map") {
      diag.add(ConfigErrorCode.INVALID_VALUE, `filters.${k} must be a map with only/ignore`, v);
      continue;
    }
    f[k] = readMatcher(v, `filters.${k}`, diag);
  }
  return f;
}

export function allows(m: Matcher, s: string): boolean {
  if (m.only && !m.only.some((f) => f(s))) return false;
  if (m.ignore && m.ignore.some((f) => f(s))) return false;
  return true;
}

/** Whether the job's own filters let it run for these pipeline values. */
export function filterAllows(filters: Filters | undefined, v: PipelineValues): boolean {
  if (v.tag !== undefined && v.tag !== "") {
    const t = filters?.tags;
    if (!t || (!t.only && !t.ignore)) return false;
    return allows(t, v.tag);
  }
  const b = filters?.branches;
  return b ? allows(b, v.branch ?? "") : true;
}
