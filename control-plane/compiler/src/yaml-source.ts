/**
 * YAML with positions: parses a source into a small tree of positioned nodes. Aliases share the
 * anchored node (no copy), `<<` merge keys are applied here, and the expanded size is budgeted so
 * an alias bomb is refused in time linear in the source. Most configs are read by `FastYaml` (one
 * pass, no document model); anything it does not cover, and every error, goes through `yaml`.
 */
import { Composer, Lexer, Parser, YAMLParseError, isAlias, isMap, isScalar, isSeq } from "yaml";
import type { CST, Document, Node as YamlNode, ParsedNode } from "yaml";
import { ConfigErrorCode } from "./errors.js";
import type { Diagnostics } from "./errors.js";
import { FastYaml, Unsupported } from "./yaml-fast.js";

/**
 * The largest config accepted, in bytes of UTF-8 (5 MiB): larger ones are refused before
 * parsing. The control plane's API body limit is derived from it, so every config the compiler
 * accepts can also be sent (`drover run`).
 */
export const MAX_CONFIG_BYTES = 5 * 1024 * 1024;
/** @deprecated The same limit under its first name; use `MAX_CONFIG_BYTES`. */
export const MAX_SOURCE_BYTES = MAX_CONFIG_BYTES;
/**
 * Maps and lists nested deeper than this (the root counts as 1) are refused before any
 * recursive stage sees them: real configs stay under 20; the stack would not survive thousands.
 */
export const MAX_YAML_DEPTH = 200;
/** Nodes the document may expand to once every alias is followed. */
export const MAX_EXPANDED_NODES = 2_000_000;

/** One parsed file; turns offsets into 1-based line/column on demand. */
export class Source {
  /** Offsets where lines start; computed on the first error (most compiles never need it). */
  private starts: number[] | undefined;

  constructor(
    readonly file: string,
    readonly text: string,
  ) {}

  position(offset: number): { line: number; col: number } {
    if (!this.starts) {
      const starts = [0];
      const t = this.text;
      for (let i = t.indexOf("\n"); i >= 0; i = t.indexOf("\n", i + 1)) starts.push(i + 1);
      this.starts = starts;
    }
    const starts = this.starts;
    let lo = 0;
    let hi = starts.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((starts[mid] as number) <= offset) lo = mid;
      else hi = mid - 1;
    }
    return { line: lo + 1, col: offset - (starts[lo] as number) + 1 };
  }
}

export interface Pos {
  src: Source;
  offset: number;
}

export type Scalar = string | number | boolean | null;

export interface PScalar extends Pos {
  kind: "scalar";
  value: Scalar;
  /** Source text of a plain non-string scalar (`12.10`, `2.0`), used when a string is wanted. */
  raw?: string;
}

export interface PEntry {
  key: string;
  keyPos: Pos;
  value: PNode;
}

export interface PMap extends Pos {
  kind: "map";
  entries: PEntry[];
  index: Map<string, PEntry>;
  /** False when no string below contains `<<` (set by the parser; skips interpolation). */
  tpl?: boolean;
}

export interface PSeq extends Pos {
  kind: "seq";
  items: PNode[];
  tpl?: boolean;
}

function mayTemplate(n: PNode): boolean {
  if (n.kind === "scalar") return typeof n.value === "string" && n.value.includes("<<");
  return n.tpl !== false;
}

export type PNode = PScalar | PMap | PSeq;

export function mkScalar(value: Scalar, at: Pos, raw?: string): PScalar {
  const n: PScalar = { kind: "scalar", value, src: at.src, offset: at.offset };
  if (raw !== undefined) n.raw = raw;
  return n;
}

export function mkMap(entries: PEntry[], at: Pos): PMap {
  const index = new Map<string, PEntry>();
  for (const e of entries) index.set(e.key, e);
  return { kind: "map", entries, index, src: at.src, offset: at.offset };
}

export function mkSeq(items: PNode[], at: Pos): PSeq {
  return { kind: "seq", items, src: at.src, offset: at.offset };
}

/** The text a scalar stands for where a string is wanted (`12.10` stays `12.10`). */
export function scalarText(n: PScalar): string {
  if (n.raw !== undefined) return n.raw;
  if (n.value === null) return "";
  return String(n.value);
}

export function isNull(n: PNode | undefined): boolean {
  return n === undefined || (n.kind === "scalar" && n.value === null);
}

/** Plain JS value of a node (for output and deep comparisons). */
export function toPlain(n: PNode): unknown {
  switch (n.kind) {
    case "scalar":
      return n.value;
    case "seq":
      return n.items.map(toPlain);
    case "map": {
      const o: Record<string, unknown> = {};
      for (const e of n.entries) o[e.key] = toPlain(e.value);
      return o;
    }
  }
}

export function deepEqual(a: PNode, b: PNode): boolean {
  if (a === b) return true;
  if (a.kind !== b.kind) return false;
  if (a.kind === "scalar") return a.value === (b as PScalar).value;
  if (a.kind === "seq") {
    const bi = (b as PSeq).items;
    return a.items.length === bi.length && a.items.every((x, i) => deepEqual(x, bi[i] as PNode));
  }
  const bm = b as PMap;
  if (a.entries.length !== bm.entries.length) return false;
  return a.entries.every((e) => {
    const o = bm.index.get(e.key);
    return o !== undefined && deepEqual(e.value, o.value);
  });
}

export interface ParsedSource {
  src: Source;
  root?: PNode;
}

/** Parses `text`; every problem goes to `diag`. `root` is absent when nothing usable came out. */
export function parseYaml(text: string, file: string, diag: Diagnostics): ParsedSource {
  const src = new Source(file, text);
  const at0: Pos = { src, offset: 0 };
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > MAX_CONFIG_BYTES) {
    diag.add(
      ConfigErrorCode.TOO_LARGE,
      `config is ${bytes} bytes; the limit is ${MAX_CONFIG_BYTES} (${MAX_CONFIG_BYTES / 1024 / 1024} MiB)`,
      at0,
    );
    return { src };
  }
  if (!fullReaderOnly) {
    try {
      const root = new FastYaml(text, src).parse();
      return { src, root: root ?? mkScalar(null, at0) };
    } catch (e) {
      // Too deep, too: the library path finds where and reports it.
      if (!(e instanceof Unsupported)) throw e;
    }
  }
  return parseWithLibrary(text, src, diag);
}

/** Nesting past `MAX_YAML_DEPTH`, found while lexing (before the recursive composer runs). */
class NestingTooDeep extends Error {
  constructor(readonly offset: number) {
    super("nesting too deep");
  }
}

const COLLECTIONS = new Set(["block-map", "block-seq", "flow-collection"]);

/** The CST of `text`, token by token; throws `NestingTooDeep` as soon as nesting passes the limit. */
function* boundedCst(text: string): Generator<CST.Token> {
  const parser = new Parser();
  for (const lexeme of new Lexer().lex(text)) {
    yield* parser.next(lexeme);
    // The stack also holds the document and the node being read: count only when it may matter.
    const { stack } = parser;
    if (stack.length > MAX_YAML_DEPTH) {
      let depth = 0;
      for (const t of stack) if (COLLECTIONS.has(t.type)) depth++;
      if (depth > MAX_YAML_DEPTH) throw new NestingTooDeep(parser.offset - lexeme.length);
    }
  }
  yield* parser.end();
}

/** `yaml`'s `parseDocument`, over the depth-checked CST; undefined when too deep (reported). */
function parseDocumentBounded(
  text: string,
  src: Source,
  diag: Diagnostics,
): Document.Parsed | undefined {
  const composer = new Composer({ prettyErrors: false, uniqueKeys: false });
  let doc: Document.Parsed | undefined;
  try {
    for (const d of composer.compose(boundedCst(text), true, text.length)) {
      if (!doc) doc = d;
      else {
        doc.errors.push(
          new YAMLParseError(
            [d.range[0], d.range[1]],
            "MULTIPLE_DOCS",
            "Source contains multiple documents; please use YAML.parseAllDocuments()",
          ),
        );
        break;
      }
    }
  } catch (e) {
    if (!(e instanceof NestingTooDeep)) throw e;
    diag.add(
      ConfigErrorCode.TOO_DEEP,
      `nesting too deep: maps and lists nested more than ${MAX_YAML_DEPTH} levels`,
      { src, offset: e.offset },
    );
    return undefined;
  }
  return doc;
}

/** Forces the full `yaml` library path (tests compare the two readers). */
let fullReaderOnly = false;
export function useFullYamlReader(on: boolean): void {
  fullReaderOnly = on;
}

function parseWithLibrary(text: string, src: Source, diag: Diagnostics): ParsedSource {
  const at0: Pos = { src, offset: 0 };
  // Duplicate keys are checked in `Converter` with a set (yaml's own check is quadratic in the
  // number of keys, and several `<<` merge keys in one mapping are common in real configs).
  const doc = parseDocumentBounded(text, src, diag);
  if (!doc) return { src };
  let failed = false;
  for (const e of doc.errors) {
    failed = true;
    diag.add(ConfigErrorCode.YAML_SYNTAX, e.message.split("\n")[0] ?? e.message, {
      src,
      offset: e.pos[0],
    });
  }
  if (failed) return { src };
  const conv = new Converter(src, diag);
  const contents = doc.contents as ParsedNode | null;
  if (!contents) return { src, root: mkScalar(null, at0) };
  const root = conv.convert(contents);
  if (conv.aborted) return { src };
  return { src, root };
}

class Converter {
  aborted = false;
  private readonly memo = new Map<YamlNode, PNode>();
  private readonly sizes = new Map<PNode, number>();
  private readonly active = new Set<YamlNode>();
  private readonly anchors = new Map<string, YamlNode>();

  constructor(
    private readonly src: Source,
    private readonly diag: Diagnostics,
  ) {}

  private at(node: YamlNode): Pos {
    return { src: this.src, offset: node.range?.[0] ?? 0 };
  }

  private sizeOf(n: PNode): number {
    return this.sizes.get(n) ?? 1;
  }

  private budget(n: PNode, size: number, at: Pos): PNode {
    this.sizes.set(n, size);
    if (size > MAX_EXPANDED_NODES && !this.aborted) {
      this.aborted = true;
      this.diag.add(
        ConfigErrorCode.ALIAS_LIMIT,
        `aliases expand this document past ${MAX_EXPANDED_NODES} nodes; refusing it (alias bomb?)`,
        at,
      );
    }
    return n;
  }

  convert(node: YamlNode): PNode {
    if (this.aborted) return mkScalar(null, this.at(node));
    if (isAlias(node)) {
      // Anchors are registered in document order: an alias names the latest one before it.
      // (yaml's own Alias.resolve walks the whole document per alias: quadratic.)
      const target = this.anchors.get(node.source);
      if (!target) {
        this.diag.add(ConfigErrorCode.YAML_SYNTAX, `unknown alias *${node.source}`, this.at(node));
        return mkScalar(null, this.at(node));
      }
      if (this.active.has(target)) {
        this.diag.add(
          ConfigErrorCode.YAML_SYNTAX,
          `alias *${node.source} refers to itself`,
          this.at(node),
        );
        return mkScalar(null, this.at(node));
      }
      return this.convert(target);
    }
    // Only anchored nodes can be reached twice; memoize those so aliases share one tree.
    const anchored = (node as { anchor?: string }).anchor !== undefined;
    if (!anchored) return this.convertFresh(node);
    const hit = this.memo.get(node);
    if (hit) return hit;
    this.anchors.set((node as { anchor: string }).anchor, node);
    this.active.add(node);
    const out = this.convertFresh(node);
    this.active.delete(node);
    this.memo.set(node, out);
    return out;
  }

  private convertFresh(node: YamlNode): PNode {
    const at = this.at(node);
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === "string" || v === null || typeof v === "boolean") {
        const raw =
          v !== null && typeof v !== "string" && node.source !== undefined
            ? String(node.source)
            : undefined;
        return mkScalar(v, at, raw);
      }
      if (typeof v === "number") {
        return mkScalar(v, at, node.source !== undefined ? String(node.source) : undefined);
      }
      if (typeof v === "bigint") return mkScalar(Number(v), at, String(node.source ?? v));
      return mkScalar(String(v as unknown), at);
    }
    if (isSeq(node)) {
      const items: PNode[] = [];
      let size = 1;
      let tpl = false;
      for (const it of node.items) {
        const c = this.convert(it as YamlNode);
        size += this.sizeOf(c);
        if (!tpl && mayTemplate(c)) tpl = true;
        items.push(c);
      }
      const seq = mkSeq(items, at);
      seq.tpl = tpl;
      return this.budget(seq, size, at);
    }
    if (isMap(node)) {
      const entries: PEntry[] = [];
      const merges: PNode[] = [];
      const seen = new Set<string>();
      let size = 1;
      for (const pair of node.items) {
        const k = pair.key as YamlNode | null;
        const keyPos = k ? this.at(k) : at;
        const keyNode = k ? this.convert(k) : mkScalar(null, at);
        const valueNode = pair.value
          ? this.convert(pair.value as YamlNode)
          : mkScalar(null, keyPos);
        if (keyNode.kind !== "scalar") {
          this.diag.add(ConfigErrorCode.INVALID_VALUE, "mapping keys must be scalars", keyPos);
          continue;
        }
        if (isScalar(k) && k.value === "<<" && k.type === "PLAIN") {
          merges.push(valueNode);
          continue;
        }
        const key = scalarText(keyNode);
        if (seen.has(key)) {
          this.diag.add(
            ConfigErrorCode.YAML_SYNTAX,
            `duplicate key '${key}' in this mapping`,
            keyPos,
          );
          continue;
        }
        seen.add(key);
        size += this.sizeOf(valueNode) + 1;
        entries.push({ key, keyPos, value: valueNode });
      }
      if (merges.length > 0) {
        // Explicit keys win; among merged maps the earlier one wins (YAML merge-key semantics).
        const have = seen;
        for (const m of merges) {
          const sources = m.kind === "seq" ? m.items : [m];
          for (const s of sources) {
            if (s.kind !== "map") {
              this.diag.add(
                ConfigErrorCode.INVALID_VALUE,
                "a `<<` merge key needs a mapping (or a list of mappings)",
                s,
              );
              continue;
            }
            for (const e of s.entries) {
              if (have.has(e.key)) continue;
              have.add(e.key);
              size += this.sizeOf(e.value) + 1;
              entries.push(e);
            }
          }
        }
      }
      const map = mkMap(entries, at);
      map.tpl = entries.some((e) => e.key.includes("<<") || mayTemplate(e.value));
      return this.budget(map, size, at);
    }
    return mkScalar(null, at);
  }
}
