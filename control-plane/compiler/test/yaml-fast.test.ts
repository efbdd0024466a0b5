import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { Diagnostics } from "../src/errors.js";
import { FastYaml, Unsupported } from "../src/yaml-fast.js";
import { parseYaml, Source, useFullYamlReader } from "../src/yaml-source.js";
import type { PNode } from "../src/yaml-source.js";

/** Everything a later stage can observe of a node: kind, value, raw text, positions, flags. */
function shape(n: PNode, seen = new Map<PNode, number>()): unknown {
  const id = seen.get(n);
  if (id !== undefined) return { ref: id };
  seen.set(n, seen.size);
  if (n.kind === "scalar") return { s: n.value, raw: n.raw, at: n.offset };
  if (n.kind === "seq")
    return { at: n.offset, tpl: n.tpl, items: n.items.map((x) => shape(x, seen)) };
  return {
    at: n.offset,
    tpl: n.tpl,
    index: [...n.index.keys()],
    entries: n.entries.map((e) => ({ k: e.key, kat: e.keyPos.offset, v: shape(e.value, seen) })),
  };
}

function library(text: string): { root?: PNode; errors: string[] } {
  useFullYamlReader(true);
  try {
    const d = new Diagnostics("x.yml");
    const r = parseYaml(text, "x.yml", d);
    return { root: r.root, errors: d.errors.map((e) => e.code) };
  } finally {
    useFullYamlReader(false);
  }
}

/** The fast reader's tree, or `undefined` when it hands the text to the library. */
function fast(text: string): PNode | null | undefined {
  try {
    return new FastYaml(text, new Source("x.yml", text)).parse() ?? null;
  } catch (e) {
    if (e instanceof Unsupported) return undefined;
    throw e;
  }
}

/** Asserts the readers agree; returns whether the fast one handled the text. */
function agree(text: string): boolean {
  const f = fast(text);
  if (f === undefined) return false;
  const lib = library(text);
  expect(lib.errors, `library rejects what the fast reader accepted:\n${text}`).toEqual([]);
  if (f === null) expect(lib.root?.kind === "scalar" && lib.root.value === null).toBe(true);
  else expect(shape(f), text).toEqual(shape(lib.root!));
  return true;
}

const here = fileURLToPath(new URL(".", import.meta.url));
const corpus = join(here, "..", "..", "..", "..", "shared", "conformance", "circleci-configs");

function ymlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const f of readdirSync(dir)) {
    const p = join(dir, f);
    if (statSync(p).isDirectory()) out.push(...ymlFiles(p));
    else if (f.endsWith(".yml") || f.endsWith(".yaml")) out.push(p);
  }
  return out;
}

/** YAML-looking template literals in the compiler tests (the configs the unit tests feed in). */
function snippets(): string[] {
  const out: string[] = [];
  for (const f of readdirSync(here)) {
    if (!f.endsWith(".test.ts") || f === "yaml-fast.test.ts") continue;
    const src = readFileSync(join(here, f), "utf8");
    for (const m of src.matchAll(/`(version:[^`]*)`/g)) {
      if (!m[1]!.includes("${")) out.push(m[1]!);
    }
  }
  return out;
}

describe("fast YAML reader", () => {
  it("builds the same tree as the yaml library for every corpus config, or defers", () => {
    const files = ymlFiles(corpus);
    expect(files.length).toBeGreaterThan(20);
    let handled = 0;
    for (const f of files) if (agree(readFileSync(f, "utf8"))) handled++;
    // Most real configs stay on the fast path (the rest are read by the library, correctly).
    expect(handled).toBeGreaterThanOrEqual(Math.floor(files.length * 0.7));
  });

  it("agrees on the orb fixtures and on every config in the compiler tests", () => {
    for (const f of ymlFiles(join(here, "fixtures"))) agree(readFileSync(f, "utf8"));
    const all = snippets();
    expect(all.length).toBeGreaterThan(30);
    for (const s of all) agree(s);
  });

  it.each([
    ["empty values", "a:\nb:   \nc:  # c\nd: [x]\n"],
    ["empty items", "- \n-  # x\n- b\n-\n"],
    ["scalars", "a: 1\nb: -2.50\nc: true\nd: False\ne: ~\nf: null\ng: '12'\nh: 0123\n"],
    ["quotes", `a: 'it''s'\nb: "tab\\there \\u00e9 \\x41 \\"q\\""\n'c d': "e: f"\n`],
    ["comments", "# top\na: b # trailing\n# mid\n\nc:\n  # inside\n  - d # x\n"],
    ["seq in map at the same indent", "a:\n- b\n- c: d\n  e: f\ng: h\n"],
    ["nested seqs", "- - a\n  - b\n- - - c\n"],
    ["compact maps", "- a: 1\n  b:\n    c: 2\n- d: [1, 2]\n"],
    ["flow", "a: {b: c, 'd': [e, f, {g: h}], i: cimg/node:18, j: http://x/y}\nk: []\nl: {}\n"],
    ["flow over lines", "a: {\n  b: c,  # x\n  d: [e,\n     f]\n}\n"],
    ["literal", "a: |\n  x\n\n    y\n  z\n\n\nb: |-\n  q\nc: |+\n  r\n\nd: 1\n"],
    ["folded", "a: >\n  x\n  y\n\n  z\nb: >-\n  p\n  q\n"],
    ["block at the end", "a: |\n  x"],
    ["block header comment", "a: | # hi\n  x\n"],
    ["anchors", "a: &x\n  b: 1\nc: *x\nd: &y [1, 2]\ne: *y\nf: &z s\ng: *z\n"],
    [
      "merges",
      "a: &a {x: 1, y: 2}\nb: &b\n  y: 3\n  z: 4\nc:\n  <<: [*a, *b]\n  x: 0\nd:\n  <<: *a\n  '<<': 5\n",
    ],
    ["redefined anchor", "a: &x 1\nb: *x\nc: &x 2\nd: *x\n"],
    ["templates", "a: << parameters.x >>\nb: [<< pipeline.git.branch >>]\nc: {d: e}\n"],
    ["document start", "---\na: b\n"],
    ["document start with comment", "# c\n--- # x\na: b\n"],
    ["only comments", "# nothing\n"],
    ["empty", ""],
    ["key with spaces and colons", "a b: c\nhttp://x: y\n"],
    ["colon in plain", "- echo a:b\n- x: y:z\n"],
    ["numeric keys", "1: a\n2.5: b\ntrue: c\n~: d\n"],
  ])("agrees on %s (and takes the fast path)", (_name, text) => {
    expect(agree(text)).toBe(true);
  });

  it.each([
    ["a tag", "a: !!str 1\n"],
    ["a directive", "%YAML 1.2\n---\na: b\n"],
    ["two documents", "a: b\n---\nc: d\n"],
    ["a multi-line plain scalar", "a: b\n  c\n"],
    ["a multi-line quoted scalar", 'a: "b\n  c"\n'],
    ["a duplicate key", "a: 1\na: 2\n"],
    ["an unknown alias", "a: *nope\n"],
    ["a mapping in a plain value", "a: b: c\n"],
    ["bad indentation", "a:\n    b: 1\n  c: 2\n"],
    ["a tab in indentation", "a:\n\tb: 1\n"],
    ["an explicit key", "? a\n: b\n"],
    ["a hex number", "a: 0x1F\n"],
    ["an unterminated flow", "a: [b, c\n"],
    ["CRLF", "a: b\r\nc: d\r\n"],
    ["a self-referencing alias", "a: &x\n  b: *x\n"],
  ])("hands %s to the library", (_name, text) => {
    expect(fast(text)).toBeUndefined();
  });

  it("keeps the library's positions in errors found after parsing", () => {
    const d = new Diagnostics("x.yml");
    const r = parseYaml("a: 1\nb:\n  - c\n  - d\n", "x.yml", d);
    const seq = r.root?.kind === "map" ? r.root.index.get("b")?.value : undefined;
    expect(seq?.kind).toBe("seq");
    expect(seq!.src.position(seq!.offset)).toEqual({ line: 3, col: 3 });
  });
});
