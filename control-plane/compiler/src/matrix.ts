/** Matrix jobs: the parameter combinations of a workflow job invocation, minus `exclude`. */
import { ConfigErrorCode } from "./errors.js";
import { subst } from "./params.js";
import { asString, checkKeys } from "./shape.js";
import type { ExpandContext } from "./steps.js";
import { deepEqual, scalarText, toPlain } from "./yaml-source.js";
import type { PEntry, PMap, PNode } from "./yaml-source.js";

export interface Combo {
  values: Map<string, PNode>;
  entries: PEntry[];
  suffix: string;
}

export function nameValue(n: PNode): string {
  if (n.kind === "scalar") return scalarText(n);
  if (n.kind === "map") {
    const nm = n.index.get("name")?.value;
    if (nm && nm.kind === "scalar") return scalarText(nm);
  }
  return JSON.stringify(toPlain(n));
}

export function readMatrix(n: PNode, ctx: ExpandContext): Combo[] {
  const { diag } = ctx;
  if (n.kind !== "map") {
    diag.add(ConfigErrorCode.INVALID_VALUE, "`matrix` must be a map with `parameters`", n);
    return [];
  }
  const m = ctx.interpolate ? (subst(n, { pipeline: ctx.pipeline }, diag) as PMap) : n;
  checkKeys(m, new Set(["parameters", "exclude", "alias"]), "`matrix`", diag);
  const params = m.index.get("parameters")?.value;
  if (!params || params.kind !== "map" || params.entries.length === 0) {
    diag.add(
      ConfigErrorCode.MISSING_KEY,
      "`matrix` needs a non-empty `parameters` map",
      params ?? m,
    );
    return [];
  }
  let combos: Array<Array<{ e: PEntry; v: PNode }>> = [[]];
  for (const e of params.entries) {
    const values = e.value.kind === "seq" ? e.value.items : [e.value];
    if (values.length === 0) {
      diag.add(ConfigErrorCode.INVALID_VALUE, `matrix parameter '${e.key}' has no values`, e.value);
      return [];
    }
    const next: typeof combos = [];
    for (const c of combos) for (const v of values) next.push([...c, { e, v }]);
    combos = next;
    if (combos.length > 100_000) {
      diag.add(ConfigErrorCode.INVALID_VALUE, "`matrix` expands to more than 100000 jobs", m);
      return [];
    }
  }
  const exclude = m.index.get("exclude")?.value;
  const excludes: PMap[] = [];
  if (exclude) {
    const list = exclude.kind === "seq" ? exclude.items : [exclude];
    for (const x of list) {
      if (x.kind !== "map") {
        diag.add(
          ConfigErrorCode.INVALID_VALUE,
          "each `matrix.exclude` entry must be a map of parameter values",
          x,
        );
        continue;
      }
      for (const e of x.entries) {
        if (!params.index.has(e.key)) {
          diag.add(
            ConfigErrorCode.INVALID_VALUE,
            `matrix.exclude names '${e.key}', which is not a matrix parameter`,
            e.keyPos,
          );
        }
      }
      excludes.push(x);
    }
  }
  const out: Combo[] = [];
  for (const c of combos) {
    const excluded = excludes.some((x) =>
      x.entries.every((xe) => {
        const hit = c.find((p) => p.e.key === xe.key);
        return (
          hit !== undefined &&
          (deepEqual(hit.v, xe.value) || nameValue(hit.v) === nameValue(xe.value))
        );
      }),
    );
    if (excluded) continue;
    out.push({
      values: new Map(c.map((p) => [p.e.key, p.v])),
      entries: c.map((p) => ({ key: p.e.key, keyPos: p.e.keyPos, value: p.v })),
      suffix: c.map((p) => nameValue(p.v)).join("-"),
    });
  }
  return out;
}

export function matrixAlias(n: PNode, ref: string, ctx: ExpandContext): string {
  if (n.kind !== "map") return ref;
  return asString(n.index.get("alias")?.value, "matrix.alias", ctx.diag) ?? ref;
}
