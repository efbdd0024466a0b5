/**
 * A one-pass reader for the YAML that CI configs are written in: block and flow collections,
 * plain/quoted/block scalars, comments, anchors, aliases and `<<` merge keys. It builds the
 * positioned tree directly (no CST, no document model), which is what makes large configs cheap.
 *
 * It is deliberately partial: on anything outside that subset (tags, directives, several documents,
 * multi-line plain or quoted scalars, tabs in indentation, complex keys, odd indentation) and on
 * anything wrong (syntax errors, duplicate keys, unknown or self-referencing aliases, the alias
 * budget) it throws `Unsupported`, and the caller re-reads the text with the full `yaml` library,
 * which reports errors with their positions. So its output is either identical to the full path's
 * or absent.
 */
import { MAX_EXPANDED_NODES, MAX_YAML_DEPTH } from "./yaml-source.js";
import type { PEntry, PMap, PNode, PScalar, PSeq, Scalar, Source } from "./yaml-source.js";

/** Thrown when the text needs the full YAML library. */
export class Unsupported extends Error {}

const NUL = -1;

function bail(why: string): never {
  throw new Unsupported(why);
}

const NUMERIC_CORE =
  /^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN|[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?|0o[0-7]+|0x[0-9a-fA-F]+)$/;
const SIMPLE_INT = /^-?[0-9]+$/;
const SIMPLE_FLOAT = /^-?[0-9]+\.[0-9]+$/;

/** Core-schema value of a plain scalar (as the `yaml` library resolves it), or bail. */
function resolvePlain(s: string): { value: Scalar; raw?: string } {
  const c = s.charCodeAt(0);
  switch (c) {
    case 126: // ~
      if (s === "~") return { value: null };
      break;
    case 110: // n
    case 78: // N
      if (s === "null" || s === "Null" || s === "NULL") return { value: null };
      break;
    case 116: // t
    case 84: // T
      if (s === "true" || s === "True" || s === "TRUE") return { value: true, raw: s };
      break;
    case 102: // f
    case 70: // F
      if (s === "false" || s === "False" || s === "FALSE") return { value: false, raw: s };
      break;
  }
  // Digits, sign or dot may start a number.
  if ((c >= 48 && c <= 57) || c === 45 || c === 43 || c === 46) {
    if (SIMPLE_INT.test(s) || SIMPLE_FLOAT.test(s)) return { value: Number(s), raw: s };
    if (NUMERIC_CORE.test(s)) bail("non-decimal number");
  }
  return { value: s };
}

function isWs(c: number): boolean {
  return c === 32 || c === 9;
}
function isBreakOrEnd(c: number): boolean {
  return c === 10 || c === NUL;
}
function isFlowInd(c: number): boolean {
  return c === 44 || c === 91 || c === 93 || c === 123 || c === 125;
}

export class FastYaml {
  private i = 0;
  private readonly n: number;
  /** Column of the content at `i` after `nextLine()`, or -1 at the end of the text. */
  private col = 0;
  private readonly anchors = new Map<string, PNode>();
  private readonly open = new Set<string>();
  private readonly sizes = new Map<PNode, number>();
  /** Maps and lists open around `i`. */
  private depth = 0;

  constructor(
    private readonly s: string,
    private readonly src: Source,
  ) {
    this.n = s.length;
  }

  private ch(at: number): number {
    return at < this.n ? this.s.charCodeAt(at) : NUL;
  }

  /** The whole document; `undefined` when it holds no node. */
  parse(): PNode | undefined {
    const s = this.s;
    if (s.includes("\r") || s.charCodeAt(0) === 0xfeff) bail("CR or BOM");
    this.nextLine(true);
    if (this.col === 0 && s.startsWith("---", this.i)) {
      const after = this.ch(this.i + 3);
      if (!(isWs(after) || isBreakOrEnd(after))) bail("--- prefix");
      this.i += 3;
      this.endLine();
    }
    if (this.col < 0) return undefined;
    const c = this.ch(this.i);
    if (c === 37 /* % */) bail("directive");
    const root = this.node(-1, true);
    if (this.col >= 0) bail("content after the root node");
    return root;
  }

  /**
   * Skips blank and comment lines from the start of a line; leaves `i` at the first content
   * character and `col` at its column (-1 at the end). `fromLineStart` is false only inside lines.
   */
  private nextLine(fromLineStart: boolean): void {
    const s = this.s;
    let i = this.i;
    let lineStart = fromLineStart ? i : -1;
    for (;;) {
      if (lineStart >= 0) {
        while (i < this.n && s.charCodeAt(i) === 32) i++;
        const c = this.ch(i);
        if (c === 9) {
          // A tab after the indentation is only fine on a blank or comment line.
          let j = i;
          while (isWs(this.ch(j))) j++;
          const d = this.ch(j);
          if (!(d === 10 || d === 35 || d === NUL)) bail("tab in indentation");
          i = j;
          continue;
        }
        if (c === 35 /* # */) {
          const nl = s.indexOf("\n", i);
          i = nl < 0 ? this.n : nl;
          continue;
        }
        if (c === 10) {
          i++;
          lineStart = i;
          continue;
        }
        if (c === NUL) {
          this.i = i;
          this.col = -1;
          return;
        }
        if (c === 45 /* - */ || c === 46 /* . */) {
          if (i === lineStart && (s.startsWith("---", i) || s.startsWith("...", i))) {
            const after = this.ch(i + 3);
            if (isWs(after) || isBreakOrEnd(after)) {
              if (this.i !== 0 || c === 46) bail("document marker");
            }
          }
        }
        this.i = i;
        this.col = i - lineStart;
        return;
      }
      // Mid-line: the rest of this line must be blank or a comment.
      this.i = i;
      this.endLine();
      return;
    }
  }

  /** After a node on a line: spaces, an optional comment, then the next content line. */
  private endLine(): void {
    const s = this.s;
    let i = this.i;
    while (isWs(this.ch(i))) i++;
    let c = this.ch(i);
    if (c === 35) {
      if (i === this.i && i > 0 && !isWs(s.charCodeAt(i - 1)) && s.charCodeAt(i - 1) !== 10) {
        bail("comment without a space before it");
      }
      const nl = s.indexOf("\n", i);
      i = nl < 0 ? this.n : nl;
      c = this.ch(i);
    }
    if (c === NUL) {
      this.i = i;
      this.col = -1;
      return;
    }
    if (c !== 10) bail("unexpected text after a node");
    this.i = i + 1;
    this.nextLine(true);
  }

  private at(offset: number): { src: Source; offset: number } {
    return { src: this.src, offset };
  }

  private scalar(value: Scalar, offset: number, raw?: string): PScalar {
    const n: PScalar = { kind: "scalar", value, src: this.src, offset };
    if (raw !== undefined) n.raw = raw;
    return n;
  }

  private size(n: PNode): number {
    return this.sizes.get(n) ?? 1;
  }

  private budget(n: PNode, size: number): void {
    this.sizes.set(n, size);
    if (size > MAX_EXPANDED_NODES) bail("alias budget");
  }

  /** Entering a map or list; the library path reports nesting past the limit with a position. */
  private enter(): void {
    if (++this.depth > MAX_YAML_DEPTH) bail("nesting too deep");
  }

  /**
   * A node starting at `i` (column `col`) inside a block whose indentation is `parent`.
   * `block`: a block sequence or mapping may start here (false for `key: value` on one line).
   * Returns with `i`/`col` at the next content line.
   */
  private node(parent: number, block: boolean): PNode {
    const s = this.s;
    let c = this.ch(this.i);
    let anchor: string | undefined;
    if (c === 33 /* ! */) bail("tag");
    if (c === 38 /* & */) {
      const start = this.i + 1;
      let j = start;
      while (j < this.n) {
        const d = s.charCodeAt(j);
        if (d === 32 || d === 10 || d === 9 || isFlowInd(d)) break;
        j++;
      }
      if (j === start) bail("empty anchor");
      anchor = s.slice(start, j);
      this.i = j;
      while (isWs(this.ch(this.i))) this.i++;
      c = this.ch(this.i);
      if (c === 35 || isBreakOrEnd(c)) {
        if (c === 35 && !isWs(s.charCodeAt(this.i - 1))) bail("comment");
        this.endLine();
        if (this.col <= parent) bail("anchored empty node");
        this.open.add(anchor);
        const out = this.node(parent, true);
        return this.anchored(anchor, out);
      }
      if (c === 38 || c === 33 || c === 42) bail("props on props");
      // `&a key: v` would anchor the key: unusual, leave it to the full reader.
      if (this.looksLikeKey()) bail("anchor before a key");
      this.open.add(anchor);
      return this.anchored(anchor, this.node(parent, false));
    }
    if (c === 42 /* * */) {
      const start = this.i + 1;
      let j = start;
      while (j < this.n) {
        const d = s.charCodeAt(j);
        if (d === 32 || d === 10 || d === 9 || isFlowInd(d)) break;
        j++;
      }
      const name = s.slice(start, j);
      const target = this.anchors.get(name);
      if (!target || this.open.has(name)) bail("unknown or open alias");
      this.i = j;
      if (this.looksLikeKeyAfterNode()) bail("alias as a key");
      this.endLine();
      if (this.col > parent) bail("more-indented line after an alias");
      return target;
    }
    if (c === 45 /* - */ && this.isSeqIndicator(this.i)) {
      if (!block) bail("block sequence inline");
      return this.blockSeq(this.col);
    }
    if (c === 123 || c === 91) {
      const out = this.flow();
      if (this.looksLikeKeyAfterNode()) bail("flow collection as a key");
      this.endLine();
      if (this.col > parent) bail("more-indented line after a flow collection");
      return out;
    }
    if (c === 124 || c === 62) return this.blockScalar(parent);
    if (this.looksLikeKey()) {
      if (!block) bail("mapping inline");
      return this.blockMap(this.col);
    }
    const out = this.inlineScalar();
    this.endLine();
    if (this.col > parent) bail("multi-line scalar");
    return out;
  }

  private anchored(name: string, n: PNode): PNode {
    this.open.delete(name);
    this.anchors.set(name, n);
    return n;
  }

  private isSeqIndicator(at: number): boolean {
    const d = this.ch(at + 1);
    return d === 32 || d === 10 || d === NUL;
  }

  /** Whether a `key:` starts at `i` (plain or quoted key on this line). */
  private looksLikeKey(): boolean {
    const s = this.s;
    const c = this.ch(this.i);
    let j: number;
    if (c === 34 || c === 39) {
      j = this.quotedEnd(this.i);
      if (j < 0) return false;
    } else {
      if (c === 91 || c === 123 || c === 42 || c === 124 || c === 62) return false;
      j = this.i;
      for (;;) {
        const d = this.ch(j);
        if (d === 10 || d === NUL) return false;
        if (d === 58 /* : */) {
          const e = this.ch(j + 1);
          if (e === 32 || e === 10 || e === NUL || e === 9) return true;
        } else if (d === 35 && j > this.i && isWs(s.charCodeAt(j - 1))) return false;
        j++;
      }
    }
    while (isWs(this.ch(j))) j++;
    if (this.ch(j) !== 58) return false;
    const e = this.ch(j + 1);
    return e === 32 || e === 10 || e === NUL || e === 9;
  }

  /** After a node on the line: is a `:` indicator next (the node was a complex key)? */
  private looksLikeKeyAfterNode(): boolean {
    let j = this.i;
    while (isWs(this.ch(j))) j++;
    return this.ch(j) === 58;
  }

  /** End index (after the closing quote) of a one-line quoted scalar at `at`, or -1. */
  private quotedEnd(at: number): number {
    const s = this.s;
    const q = s.charCodeAt(at);
    let j = at + 1;
    while (j < this.n) {
      const d = s.charCodeAt(j);
      if (d === 10) return -1;
      if (q === 39 && d === 39) {
        if (this.ch(j + 1) === 39) {
          j += 2;
          continue;
        }
        return j + 1;
      }
      if (q === 34) {
        if (d === 92) {
          j += 2;
          continue;
        }
        if (d === 34) return j + 1;
      }
      j++;
    }
    return -1;
  }

  private quoted(): PScalar {
    const s = this.s;
    const start = this.i;
    const end = this.quotedEnd(start);
    if (end < 0) bail("multi-line or unterminated quoted scalar");
    const body = s.slice(start + 1, end - 1);
    let value: string;
    if (s.charCodeAt(start) === 39) value = body.includes("'") ? body.replaceAll("''", "'") : body;
    else value = body.includes("\\") ? unescape(body) : body;
    this.i = end;
    return this.scalar(value, start);
  }

  /** A scalar on the current line (block context): quoted or plain. */
  private inlineScalar(): PScalar {
    const c = this.ch(this.i);
    if (c === 34 || c === 39) return this.quoted();
    if (
      c === 44 ||
      c === 93 ||
      c === 125 ||
      c === 35 ||
      c === 37 ||
      c === 64 ||
      c === 96 ||
      c === 33
    ) {
      bail("indicator");
    }
    if ((c === 45 || c === 63 || c === 58) && this.isSeqIndicator(this.i)) bail("indicator");
    const s = this.s;
    const start = this.i;
    let j = start;
    let end = start;
    for (;;) {
      const d = this.ch(j);
      if (d === 10 || d === NUL) break;
      if (d === 58) {
        const e = this.ch(j + 1);
        if (e === 32 || e === 10 || e === NUL || e === 9) bail("mapping value in a plain scalar");
      } else if (d === 35 && isWs(s.charCodeAt(j - 1))) break;
      if (!isWs(d)) end = j + 1;
      j++;
    }
    this.i = end;
    const text = s.slice(start, end);
    if (text.length === 0) bail("empty plain scalar");
    const r = resolvePlain(text);
    return this.scalar(r.value, start, r.raw);
  }

  private blockSeq(indent: number): PSeq {
    this.enter();
    const items: PNode[] = [];
    const seq: PSeq = { kind: "seq", items, src: this.src, offset: this.i };
    let size = 1;
    let tpl = false;
    for (;;) {
      // At a `-` in column `indent`.
      const dash = this.i;
      this.i = dash + 1;
      while (this.ch(this.i) === 32) this.i++;
      const c = this.ch(this.i);
      let item: PNode;
      if (c === 35 || isBreakOrEnd(c) || c === 9) {
        const itemAt = this.i;
        this.endLine();
        if (this.col > indent) item = this.node(indent, true);
        else item = this.scalar(null, itemAt);
      } else {
        this.col = indent + (this.i - dash);
        item = this.node(indent, true);
      }
      size += this.size(item);
      if (!tpl && mayTemplate(item)) tpl = true;
      items.push(item);
      if (this.col < indent) break;
      if (this.col > indent) bail("bad indentation in a sequence");
      if (!(this.ch(this.i) === 45 && this.isSeqIndicator(this.i))) break;
    }
    seq.tpl = tpl;
    this.budget(seq, size);
    this.depth--;
    return seq;
  }

  private key(): { text: string; offset: number; plainMerge: boolean } {
    const offset = this.i;
    const c = this.ch(this.i);
    if (c === 63 /* ? */ && this.isSeqIndicator(this.i)) bail("explicit key");
    if (c === 38 || c === 42 || c === 33) bail("props on a key");
    let text: string;
    let plainMerge = false;
    if (c === 34 || c === 39) {
      text = this.quoted().value as string;
    } else {
      const s = this.s;
      let j = this.i;
      let end = j;
      for (;;) {
        const d = this.ch(j);
        if (d === 58) {
          const e = this.ch(j + 1);
          if (e === 32 || e === 10 || e === NUL || e === 9) break;
        }
        if (d === 10 || d === NUL) bail("key without a value");
        if (!isWs(d)) end = j + 1;
        j++;
      }
      const raw = s.slice(this.i, end);
      if (raw.length === 0) bail("empty key");
      const r = resolvePlain(raw);
      text = r.raw ?? (r.value === null ? "" : String(r.value));
      plainMerge = raw === "<<";
      this.i = end;
    }
    if (this.i - offset > 1024) bail("long implicit key");
    while (isWs(this.ch(this.i))) this.i++;
    if (this.ch(this.i) !== 58) bail("expected ':'");
    this.i++;
    return { text, offset, plainMerge };
  }

  private blockMap(indent: number): PMap {
    this.enter();
    const entries: PEntry[] = [];
    const index = new Map<string, PEntry>();
    const map: PMap = { kind: "map", entries, index, src: this.src, offset: this.i };
    const merges: PNode[] = [];
    let size = 1;
    for (;;) {
      const k = this.key();
      while (isWs(this.ch(this.i))) this.i++;
      const c = this.ch(this.i);
      let value: PNode;
      if (c === 35 || isBreakOrEnd(c)) {
        if (c === 35 && !isWs(this.s.charCodeAt(this.i - 1))) bail("comment");
        const valueAt = this.i;
        this.endLine();
        if (this.col > indent) value = this.node(indent, true);
        else if (this.col === indent && this.ch(this.i) === 45 && this.isSeqIndicator(this.i)) {
          value = this.blockSeq(indent);
        } else value = this.scalar(null, valueAt);
      } else {
        this.col = indent + 1;
        value = this.node(indent, false);
      }
      if (k.plainMerge) merges.push(value);
      else {
        if (index.has(k.text)) bail("duplicate key");
        const e: PEntry = { key: k.text, keyPos: this.at(k.offset), value };
        index.set(k.text, e);
        entries.push(e);
        size += this.size(value) + 1;
      }
      if (this.col < indent) break;
      if (this.col > indent) bail("bad indentation in a mapping");
      if (this.ch(this.i) === 45 && this.isSeqIndicator(this.i)) bail("sequence after mapping");
    }
    for (const m of merges) {
      const sources = m.kind === "seq" ? m.items : [m];
      for (const src of sources) {
        if (src.kind !== "map") bail("merge of a non-mapping");
        for (const e of src.entries) {
          if (index.has(e.key)) continue;
          index.set(e.key, e);
          size += this.size(e.value) + 1;
          entries.push(e);
        }
      }
    }
    map.tpl = entries.some((e) => e.key.includes("<<") || mayTemplate(e.value));
    this.budget(map, size);
    this.depth--;
    return map;
  }

  /** `|` or `>` block scalar; `parent` is the enclosing block's indentation. */
  private blockScalar(parent: number): PScalar {
    const s = this.s;
    const offset = this.i;
    const literal = s.charCodeAt(this.i) === 124;
    let j = this.i + 1;
    let chomp = 0; // -1 strip, 0 clip, 1 keep
    let explicit = 0;
    for (let k = 0; k < 2; k++) {
      const d = this.ch(j);
      if (d === 45 && chomp === 0) {
        chomp = -1;
        j++;
      } else if (d === 43 && chomp === 0) {
        chomp = 1;
        j++;
      } else if (d >= 49 && d <= 57 && explicit === 0) {
        explicit = d - 48;
        j++;
      }
    }
    let d = this.ch(j);
    if (!(isWs(d) || isBreakOrEnd(d))) bail("block scalar header");
    while (isWs(this.ch(j))) j++;
    d = this.ch(j);
    if (d === 35) {
      const nl = s.indexOf("\n", j);
      j = nl < 0 ? this.n : nl;
      d = this.ch(j);
    } else if (!isBreakOrEnd(d)) bail("text after a block scalar header");
    if (explicit !== 0) bail("explicit indentation indicator");
    // Lines of the body.
    let pos = d === NUL ? this.n : j + 1;
    const lines: string[] = [];
    let indent = -1;
    let lastContent = -1;
    let maxBlankIndent = 0;
    for (;;) {
      if (pos >= this.n) break;
      let k = pos;
      while (k < this.n && s.charCodeAt(k) === 32) k++;
      const c = this.ch(k);
      const nl = s.indexOf("\n", k);
      const lineEnd = nl < 0 ? this.n : nl;
      if (c === 10 || c === NUL) {
        // Blank line (spaces only).
        const w = k - pos;
        if (indent >= 0 && w > indent) bail("blank line with extra spaces in a block scalar");
        if (indent < 0 && w > maxBlankIndent) maxBlankIndent = w;
        lines.push("");
        pos = lineEnd + 1;
        continue;
      }
      const w = k - pos;
      if (indent < 0) {
        if (w <= parent) break;
        if (maxBlankIndent > w) bail("leading blank lines more indented");
        indent = w;
      }
      if (w < indent) {
        if (c === 9 && w >= 0) bail("tab in a block scalar's indentation");
        break;
      }
      if (!literal && w > indent) bail("more-indented line in a folded scalar");
      if (!literal && (c === 9 || c === 32)) bail("folded scalar with leading whitespace");
      lines.push(s.slice(pos + indent, lineEnd));
      lastContent = lines.length - 1;
      pos = lineEnd + 1;
    }
    if (indent < 0) bail("empty block scalar");
    // Lines after the last content line are trailing blank lines.
    const body = lines.slice(0, lastContent + 1);
    const trailing = lines.length - 1 - lastContent;
    let text: string;
    if (literal) text = body.join("\n");
    else {
      text = "";
      let blanks = 0;
      let first = true;
      for (const line of body) {
        if (line === "") {
          blanks++;
          continue;
        }
        if (!first) text += blanks > 0 ? "\n".repeat(blanks) : " ";
        else if (blanks > 0) text += "\n".repeat(blanks);
        text += line;
        blanks = 0;
        first = false;
      }
    }
    if (chomp === 0) text += "\n";
    else if (chomp === 1) text += "\n" + "\n".repeat(trailing);
    // Position the reader at the line that ended the scalar.
    if (pos >= this.n) {
      this.i = this.n;
      this.col = -1;
    } else {
      this.i = pos;
      this.nextLine(true);
    }
    if (this.col > parent && this.col >= 0) bail("odd indentation after a block scalar");
    return this.scalar(text, offset);
  }

  /** A flow collection starting at `i`; may span lines. */
  private flow(): PNode {
    this.enter();
    const s = this.s;
    const open = s.charCodeAt(this.i);
    const offset = this.i;
    this.i++;
    if (open === 91) {
      const items: PNode[] = [];
      let size = 1;
      let tpl = false;
      for (;;) {
        this.flowSpace();
        const c = this.ch(this.i);
        if (c === 93) {
          this.i++;
          break;
        }
        const item = this.flowNode();
        this.flowSpace();
        const e = this.ch(this.i);
        if (e === 58) bail("pair in a flow sequence");
        size += this.size(item);
        if (!tpl && mayTemplate(item)) tpl = true;
        items.push(item);
        if (e === 44) this.i++;
        else if (e === 93) {
          this.i++;
          break;
        } else bail("flow sequence");
      }
      const seq: PSeq = { kind: "seq", items, src: this.src, offset, tpl };
      this.budget(seq, size);
      this.depth--;
      return seq;
    }
    const entries: PEntry[] = [];
    const index = new Map<string, PEntry>();
    let size = 1;
    for (;;) {
      this.flowSpace();
      const c = this.ch(this.i);
      if (c === 125) {
        this.i++;
        break;
      }
      if (c === 63 || c === 38 || c === 42 || c === 33 || c === 91 || c === 123) bail("flow key");
      const keyAt = this.i;
      const key = this.flowScalar();
      this.flowSpace();
      if (this.ch(this.i) !== 58) bail("flow mapping without ':'");
      this.i++;
      const after = this.ch(this.i);
      if (!(isWs(after) || after === 10)) bail("flow value");
      this.flowSpace();
      const v = this.ch(this.i);
      if (v === 44 || v === 125) bail("empty flow value");
      const value = this.flowNode();
      const text = key.raw ?? (key.value === null ? "" : String(key.value));
      if (text === "<<") bail("merge in a flow mapping");
      if (index.has(text)) bail("duplicate key");
      const e: PEntry = { key: text, keyPos: this.at(keyAt), value };
      index.set(text, e);
      entries.push(e);
      size += this.size(value) + 1;
      this.flowSpace();
      const d = this.ch(this.i);
      if (d === 44) this.i++;
      else if (d === 125) {
        this.i++;
        break;
      } else bail("flow mapping");
    }
    const map: PMap = { kind: "map", entries, index, src: this.src, offset };
    map.tpl = entries.some((e) => e.key.includes("<<") || mayTemplate(e.value));
    this.budget(map, size);
    this.depth--;
    return map;
  }

  /** Spaces, line breaks and comments inside a flow collection. */
  private flowSpace(): void {
    const s = this.s;
    for (;;) {
      const c = this.ch(this.i);
      if (c === 32 || c === 10 || c === 9) this.i++;
      else if (c === 35) {
        if (!isWs(s.charCodeAt(this.i - 1)) && s.charCodeAt(this.i - 1) !== 10) bail("comment");
        const nl = s.indexOf("\n", this.i);
        this.i = nl < 0 ? this.n : nl;
      } else if (c === NUL) bail("unterminated flow collection");
      else return;
    }
  }

  private flowNode(): PNode {
    const c = this.ch(this.i);
    if (c === 91 || c === 123) return this.flow();
    if (c === 42) {
      const start = this.i + 1;
      let j = start;
      while (j < this.n) {
        const d = this.s.charCodeAt(j);
        if (d === 32 || d === 10 || d === 9 || isFlowInd(d)) break;
        j++;
      }
      const target = this.anchors.get(this.s.slice(start, j));
      if (!target || this.open.has(this.s.slice(start, j))) bail("unknown or open alias");
      this.i = j;
      return target;
    }
    if (c === 38 || c === 33 || c === 124 || c === 62) bail("props in flow");
    return this.flowScalar();
  }

  private flowScalar(): PScalar {
    const c = this.ch(this.i);
    if (c === 34 || c === 39) return this.quoted();
    if (c === 35 || c === 37 || c === 64 || c === 96 || isFlowInd(c)) bail("indicator in flow");
    if ((c === 45 || c === 63 || c === 58) && this.isSeqIndicator(this.i)) bail("indicator");
    const s = this.s;
    const start = this.i;
    let j = start;
    let end = start;
    for (;;) {
      const d = this.ch(j);
      if (d === 10 || d === NUL || isFlowInd(d)) break;
      if (d === 58) {
        const e = this.ch(j + 1);
        if (e === 32 || e === 10 || e === 9 || isFlowInd(e) || e === NUL) break;
      }
      if (d === 35 && isWs(s.charCodeAt(j - 1))) break;
      if (!isWs(d)) end = j + 1;
      j++;
    }
    this.i = end;
    // A plain scalar continued on the next line is folded: leave that to the full reader.
    let k = j;
    if (this.ch(k) === 10) {
      while (isWs(this.ch(k)) || this.ch(k) === 10) k++;
      const e = this.ch(k);
      if (!(isFlowInd(e) || e === 58 || e === 35)) bail("multi-line plain scalar in flow");
    }
    const text = s.slice(start, end);
    if (text.length === 0) bail("empty flow scalar");
    const r = resolvePlain(text);
    return this.scalar(r.value, start, r.raw);
  }
}

function mayTemplate(n: PNode): boolean {
  if (n.kind === "scalar") return typeof n.value === "string" && n.value.includes("<<");
  return n.tpl !== false;
}

const ESCAPES: Record<string, string> = {
  "0": "\0",
  a: "\x07",
  b: "\b",
  t: "\t",
  "\t": "\t",
  n: "\n",
  v: "\v",
  f: "\f",
  r: "\r",
  e: "\x1b",
  " ": " ",
  '"': '"',
  "/": "/",
  "\\": "\\",
  N: "\u0085",
  _: "\u00a0",
  L: "\u2028",
  P: "\u2029",
};

function unescape(body: string): string {
  let out = "";
  for (let k = 0; k < body.length; k++) {
    const c = body[k]!;
    if (c !== "\\") {
      out += c;
      continue;
    }
    const e = body[++k] ?? "";
    const simple = ESCAPES[e];
    if (simple !== undefined) {
      out += simple;
      continue;
    }
    const len = e === "x" ? 2 : e === "u" ? 4 : e === "U" ? 8 : 0;
    if (len === 0) bail("unknown escape");
    const hex = body.slice(k + 1, k + 1 + len);
    if (!/^[0-9a-fA-F]+$/.test(hex) || hex.length !== len) bail("bad escape");
    out += String.fromCodePoint(parseInt(hex, 16));
    k += len;
  }
  return out;
}
