/**
 * Namespaces of reusable elements: the config's own `commands`/`executors`/`jobs`, and one per orb
 * (inline, or a registry orb read from `<orbsDir>/<namespace>/<name>@<version>.yml`). References
 * like `node/install` resolve through the namespace the referring element was defined in.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { ConfigErrorCode } from "./errors.js";
import type { Diagnostics } from "./errors.js";
import { readParamDecls } from "./params.js";
import type { ParamDecls, Scope } from "./params.js";
import { subst } from "./params.js";
import { checkKeys } from "./shape.js";
import { parseYaml, scalarText } from "./yaml-source.js";
import type { PEntry, PMap, PNode } from "./yaml-source.js";

export type ElementKind = "commands" | "executors" | "jobs";

/** One reusable element and the namespace its own references resolve in. */
export interface Element {
  kind: ElementKind;
  /** As referenced from the root config (`build`, `node/install`). */
  qualified: string;
  body: PMap;
  at: PEntry["keyPos"];
  ns: Namespace;
}

export interface Namespace {
  /** `` for the config itself, else the orb's alias path (`node`, `orb/codecov`). */
  path: string;
  commands: Map<string, Element>;
  executors: Map<string, Element>;
  jobs: Map<string, Element>;
  orbs: Map<string, Namespace | UnresolvedOrb>;
}

/** A registry orb with no local source: reported once; references into it stay silent. */
export interface UnresolvedOrb {
  unresolved: string;
}

export type LookupResult = Element | UnresolvedOrb | undefined;

export function isUnresolved(x: LookupResult | Namespace): x is UnresolvedOrb {
  return x !== undefined && "unresolved" in x;
}

/** Resolves `name` or `orb/name` (possibly `a/b/name`) of `kind` from `ns`. */
export function lookup(ns: Namespace, kind: ElementKind, name: string): LookupResult {
  const slash = name.indexOf("/");
  if (slash < 0) return ns[kind].get(name);
  const orb = ns.orbs.get(name.slice(0, slash));
  if (!orb) return undefined;
  if (isUnresolved(orb)) return orb;
  return lookup(orb, kind, name.slice(slash + 1));
}

const declCache = new WeakMap<PMap, ParamDecls>();

/** The element's `parameters:` declarations, read (and checked) once. */
export function declsOf(el: Element, diag: Diagnostics): ParamDecls {
  let d = declCache.get(el.body);
  if (!d) {
    d = readParamDecls(el.body.index.get("parameters")?.value, diag);
    declCache.set(el.body, d);
  }
  return d;
}

const ORB_REF = /^([a-z0-9][a-z0-9_-]*)\/([a-z0-9][a-z0-9_-]*)@(\S+)$/i;
const ORB_KEYS = new Set([
  "version",
  "description",
  "display",
  "orbs",
  "commands",
  "executors",
  "jobs",
  "examples",
]);

export interface OrbContext {
  diag: Diagnostics;
  orbsDir?: string;
  /** Pipeline scope for `<< pipeline.parameters.x >>` inside orb references. */
  scope: Scope;
  /** Registry orb sources already loaded in this compilation, by reference. */
  loaded: Map<string, Namespace | UnresolvedOrb>;
  depth: number;
}

/** Builds a namespace from a config or orb body (`commands`, `executors`, `jobs`, `orbs`). */
export function buildNamespace(path: string, body: PMap, ctx: OrbContext): Namespace {
  const ns: Namespace = {
    path,
    commands: new Map(),
    executors: new Map(),
    jobs: new Map(),
    orbs: new Map(),
  };
  const prefix = path ? `${path}/` : "";
  for (const kind of ["commands", "executors", "jobs"] as const) {
    const section = body.index.get(kind)?.value;
    if (!section || (section.kind === "scalar" && section.value === null)) continue;
    if (section.kind !== "map") {
      ctx.diag.add(ConfigErrorCode.INVALID_VALUE, `\`${kind}\` must be a map of names`, section);
      continue;
    }
    for (const e of section.entries) {
      let el = e.value;
      // `jobs: {x: }` with only a comment: an empty job, reported where it is used.
      if (el.kind === "scalar" && el.value === null) el = { ...emptyMap(e) };
      if (el.kind !== "map") {
        ctx.diag.add(ConfigErrorCode.INVALID_VALUE, `${kind} '${e.key}' must be a map`, e.value);
        continue;
      }
      ns[kind].set(e.key, { kind, qualified: prefix + e.key, body: el, at: e.keyPos, ns });
    }
  }
  const orbs = body.index.get("orbs")?.value;
  if (orbs && !(orbs.kind === "scalar" && orbs.value === null)) {
    if (orbs.kind !== "map") {
      ctx.diag.add(ConfigErrorCode.INVALID_VALUE, "`orbs` must be a map of orb names", orbs);
    } else {
      for (const e of orbs.entries) ns.orbs.set(e.key, resolveOrb(prefix + e.key, e, ctx));
    }
  }
  return ns;
}

function emptyMap(e: PEntry): PMap {
  return { kind: "map", entries: [], index: new Map(), src: e.keyPos.src, offset: e.keyPos.offset };
}

function resolveOrb(path: string, e: PEntry, ctx: OrbContext): Namespace | UnresolvedOrb {
  if (ctx.depth > 20) {
    ctx.diag.add(
      ConfigErrorCode.RECURSION,
      `orb '${path}': orbs nested more than 20 deep`,
      e.keyPos,
    );
    return { unresolved: path };
  }
  const v = e.value;
  if (v.kind === "map") {
    checkKeys(v, ORB_KEYS, `inline orb '${path}'`, ctx.diag);
    return buildNamespace(path, v, { ...ctx, depth: ctx.depth + 1 });
  }
  if (v.kind !== "scalar" || typeof v.value !== "string") {
    ctx.diag.add(
      ConfigErrorCode.INVALID_ORB,
      `orb '${path}' must be a reference like ns/name@version or an inline orb`,
      v,
    );
    return { unresolved: path };
  }
  const ref = scalarText(subst(v, ctx.scope, ctx.diag) as PNode & { kind: "scalar" }).trim();
  const m = ORB_REF.exec(ref);
  if (!m) {
    ctx.diag.add(
      ConfigErrorCode.INVALID_ORB,
      `orb '${path}': '${ref}' is not a reference like ns/name@version`,
      v,
    );
    return { unresolved: path };
  }
  const cached = ctx.loaded.get(ref);
  if (cached) return cached;
  const rel = `${m[1]}/${m[2]}@${m[3]}.yml`;
  const how = `put its source at $DROVER_ORBS_DIR/${rel}`;
  if (!ctx.orbsDir) {
    ctx.diag.add(
      ConfigErrorCode.ORB_UNRESOLVED,
      `orb '${path}' (${ref}) is not available: ${how} (DROVER_ORBS_DIR is not set)`,
      v,
    );
    const u = { unresolved: path };
    ctx.loaded.set(ref, u);
    return u;
  }
  const file = join(ctx.orbsDir, rel);
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    ctx.diag.add(
      ConfigErrorCode.ORB_UNRESOLVED,
      `orb '${path}' (${ref}) is not available: ${how} (no ${file})`,
      v,
    );
    const u = { unresolved: path };
    ctx.loaded.set(ref, u);
    return u;
  }
  const parsed = parseYaml(text, file, ctx.diag);
  if (!parsed.root || parsed.root.kind !== "map") {
    if (parsed.root)
      ctx.diag.add(ConfigErrorCode.INVALID_ORB, `orb source ${file} must be a map`, parsed.root);
    const u = { unresolved: path };
    ctx.loaded.set(ref, u);
    return u;
  }
  checkKeys(parsed.root, ORB_KEYS, `orb ${ref}`, ctx.diag);
  const ns = buildNamespace(path, parsed.root, { ...ctx, depth: ctx.depth + 1 });
  ctx.loaded.set(ref, ns);
  return ns;
}
