import { endianness } from "node:os";

/**
 * Aho-Corasick over UTF-16 code units. The shallowest states (as many as fit the dense budget)
 * get a dense row each: one table lookup per character, which is where ordinary text spends
 * nearly all its time. Deeper states, reached only while text matches a prefix of some pattern,
 * keep a compact list of children and fall back along failure links to a state with a row. Large
 * pattern sets (a thousand secrets in all their encoded forms) thus cost memory in proportion to
 * their total length, not to their length times the alphabet.
 */

const LITTLE_ENDIAN = endianness() === "LE";
/** Default dense budget, in table entries (4 bytes each): 4 MiB. */
const DENSE_ENTRIES = 1024 * 1024;
/** Code units copied into the scan buffer at a time. */
const WINDOW = 64 * 1024;

export interface Automaton {
  /** Number of states; state 0 is the root. */
  readonly size: number;
  /** States with a dense row (the shallowest ones). */
  readonly denseStates: number;
  /** Length of the longest pattern ending at a state (0: none), following dictionary links. */
  readonly outLen: Int32Array;
  /**
   * Per state, how many of the last characters read could still begin a match: the longest suffix
   * of the text read that is a proper prefix of some pattern (a completed pattern that cannot grow
   * is not held).
   */
  readonly hold: Int32Array;
  /** Longest pattern length. */
  readonly maxLen: number;
  /**
   * Feeds `text` from `state` and returns the new state; for each pattern ending at `text[i]`,
   * appends `i` and the longest such pattern's length to `matches` (a plain array, so the hot loop
   * never calls out).
   */
  run(state: number, text: string, matches: number[]): number;
}

export interface AutomatonOptions {
  /** Table entries (states with a row times character classes) to spend on dense rows. */
  denseEntries?: number;
}

/** A trie in breadth-first order: the children of state `s` are `kidState[kidStart[s]..kidStart[s+1])`. */
interface Trie {
  size: number;
  classes: number;
  cls: Uint16Array;
  kidStart: Int32Array;
  kidClass: Int32Array;
  kidState: Int32Array;
  depth: Int32Array;
  /** Length of the pattern ending exactly at a state (0: none). */
  own: Int32Array;
  maxLen: number;
}

/** Character classes: each code unit used by a pattern gets one; every other unit is class 0. */
function classify(patterns: readonly string[]): { cls: Uint16Array; classes: number } {
  const cls = new Uint16Array(65536);
  let classes = 1;
  for (const p of patterns) {
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i);
      if (cls[c] === 0) cls[c] = classes++;
    }
  }
  return { cls, classes };
}

/**
 * Builds the trie from sorted patterns without a hash map: each pattern shares its longest common
 * prefix with the one before, so only the path of the previous pattern is needed. Then numbers the
 * states breadth-first, so failure links point to lower numbers and the first states are the
 * shallowest.
 */
function buildTrie(input: readonly string[]): Trie {
  const patterns = [...new Set(input)].filter((p) => p.length > 0).sort();
  const { cls, classes } = classify(patterns);
  let total = 0;
  for (const p of patterns) total += p.length;
  // Insertion order: state i > 0 is reached from `parent[i]` on class `klass[i]`.
  const parent = new Int32Array(total + 1);
  const klass = new Int32Array(total + 1);
  const ownIns = new Int32Array(total + 1);
  const path = new Int32Array(patterns.reduce((m, p) => Math.max(m, p.length), 0) + 1);
  let n = 1;
  let prev = "";
  for (const p of patterns) {
    let lcp = 0;
    const max = Math.min(p.length, prev.length);
    while (lcp < max && p.charCodeAt(lcp) === prev.charCodeAt(lcp)) lcp++;
    for (let i = lcp; i < p.length; i++) {
      parent[n] = path[i] as number;
      klass[n] = cls[p.charCodeAt(i)] as number;
      path[i + 1] = n++;
    }
    ownIns[path[p.length] as number] = p.length;
    prev = p;
  }
  const size = n;

  // Children lists in insertion numbering, then breadth-first renumbering.
  const start = new Int32Array(size + 1);
  for (let s = 1; s < size; s++) {
    const i = (parent[s] as number) + 1;
    start[i] = (start[i] as number) + 1;
  }
  for (let s = 0; s < size; s++) start[s + 1] = (start[s + 1] as number) + (start[s] as number);
  const kids = new Int32Array(Math.max(0, size - 1));
  const fill = start.slice(0, size);
  for (let s = 1; s < size; s++) {
    const p = parent[s] as number;
    kids[fill[p] as number] = s;
    fill[p] = (fill[p] as number) + 1;
  }
  const order = new Int32Array(size); // breadth-first number -> insertion number
  const rank = new Int32Array(size); // insertion number -> breadth-first number
  let tail = 1;
  for (let head = 0; head < tail; head++) {
    const s = order[head] as number;
    rank[s] = head;
    for (let j = start[s] as number; j < (start[s + 1] as number); j++)
      order[tail++] = kids[j] as number;
  }

  const kidStart = new Int32Array(size + 1);
  const kidClass = new Int32Array(Math.max(0, size - 1));
  const kidState = new Int32Array(Math.max(0, size - 1));
  const depth = new Int32Array(size);
  const own = new Int32Array(size);
  let e = 0;
  for (let s = 0; s < size; s++) {
    const t = order[s] as number;
    own[s] = ownIns[t] as number;
    kidStart[s] = e;
    for (let j = start[t] as number; j < (start[t + 1] as number); j++) {
      const kid = kids[j] as number;
      const child = rank[kid] as number;
      kidClass[e] = klass[kid] as number;
      kidState[e++] = child;
      depth[child] = (depth[s] as number) + 1;
    }
  }
  kidStart[size] = e;
  const maxLen = patterns.reduce((m, p) => Math.max(m, p.length), 0);
  return { size, classes, cls, kidStart, kidClass, kidState, depth, own, maxLen };
}

export function buildAutomaton(
  patterns: readonly string[],
  opts: AutomatonOptions = {},
): Automaton {
  const trie = buildTrie(patterns);
  const { size, cls, kidStart, kidClass, kidState, depth, own } = trie;
  const C = trie.classes;
  const dense = Math.max(1, Math.min(size, Math.floor((opts.denseEntries ?? DENSE_ENTRIES) / C)));
  const fail = new Int32Array(size);
  const hold = new Int32Array(size);
  const outLen = new Int32Array(size);
  // Dense rows hold raw next states while building, encoded below.
  const table = new Int32Array(dense * C);

  const childOf = (s: number, k: number): number => {
    for (let j = kidStart[s] as number; j < (kidStart[s + 1] as number); j++) {
      if (kidClass[j] === k) return kidState[j] as number;
    }
    return -1;
  };
  /** The full transition from `s` on class `k`: a child, else along failure links. */
  const delta = (s: number, k: number): number => {
    let f = s;
    while (f >= dense) {
      const c = childOf(f, k);
      if (c >= 0) return c;
      f = fail[f] as number;
    }
    return table[f * C + k] as number;
  };

  // Breadth-first: a state's failure link is shallower, so it is complete when the state is reached.
  for (let s = 0; s < size; s++) {
    const f = fail[s] as number;
    outLen[s] = Math.max(own[s] as number, s === 0 ? 0 : (outLen[f] as number));
    const leaf = kidStart[s + 1] === kidStart[s];
    hold[s] = leaf ? (s === 0 ? 0 : (hold[f] as number)) : (depth[s] as number);
    if (s < dense && s > 0) table.copyWithin(s * C, f * C, f * C + C);
    for (let j = kidStart[s] as number; j < (kidStart[s + 1] as number); j++) {
      const child = kidState[j] as number;
      const k = kidClass[j] as number;
      fail[child] = s === 0 ? 0 : delta(f, k);
      if (s < dense) table[s * C + k] = child;
    }
  }

  // Encoded rows: the next state's row offset when it has a row and no pattern ends there, else
  // -(next) - 1. One load and one predictable branch per character on the common path.
  for (let i = 0; i < table.length; i++) {
    const next = table[i] as number;
    table[i] = next < dense && outLen[next] === 0 ? next * C : -next - 1;
  }

  /** The next state from a state without a row. */
  const step = (s: number, k: number): number => {
    if (k === 0) return 0;
    let f = s;
    while (f >= dense) {
      const c = childOf(f, k);
      if (c >= 0) return c;
      f = fail[f] as number;
    }
    const v = table[f * C + k] as number;
    return v >= 0 ? v / C : -v - 1;
  };

  // The hot loop reads UTF-16 code units from a typed array, not `String.prototype.charCodeAt`:
  // once any class in the process extends `String` (ioredis does), V8 stops inlining
  // `charCodeAt` and a charCodeAt loop runs about 5x slower. Chunks are copied into a reused
  // buffer as UTF-16LE (a native copy, 64 Ki code units at a time), read as a Uint16Array.
  const scratch = Buffer.allocUnsafeSlow(WINDOW * 2);
  const units = new Uint16Array(scratch.buffer, scratch.byteOffset, WINDOW);
  const run = (state: number, text: string, matches: number[]): number => {
    const t = table;
    const k = cls;
    // `row` is the current state's dense row, or -1 while in a state without one (`s`).
    let s = state;
    let row = s < dense ? s * C : -1;
    const textLen = text.length;
    for (let base = 0; base < textLen; base += WINDOW) {
      const len = Math.min(WINDOW, textLen - base);
      if (LITTLE_ENDIAN) {
        scratch.write(len === textLen ? text : text.slice(base, base + len), 0, len * 2, "utf16le");
      } else {
        for (let i = 0; i < len; i++) units[i] = text.charCodeAt(base + i);
      }
      const u = units;
      for (let i = 0; i < len; i++) {
        if (row >= 0) {
          const v = t[row + (k[u[i] as number] as number)] as number;
          if (v >= 0) {
            row = v;
            continue;
          }
          s = -v - 1;
        } else {
          s = step(s, k[u[i] as number] as number);
        }
        const m = outLen[s] as number;
        if (m !== 0) matches.push(base + i, m);
        row = s < dense ? s * C : -1;
      }
    }
    return row >= 0 ? row / C : s;
  };

  return { size, denseStates: dense, outLen, hold, maxLen: trie.maxLen, run };
}
