import { endianness } from "node:os";

/**
 * Aho-Corasick over UTF-16 code units. Small pattern sets become a dense DFA (one table lookup per
 * character); sets whose table would exceed `DENSE_LIMIT` entries keep sparse children and walk
 * failure links instead.
 */

const LITTLE_ENDIAN = endianness() === "LE";
/** Largest dense table, in entries (4 bytes each): 64 MiB. */
const DENSE_LIMIT = 16 * 1024 * 1024;

export interface Automaton {
  /** Number of states; state 0 is the root. */
  readonly size: number;
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

export function buildAutomaton(patterns: readonly string[]): Automaton {
  // Character classes: every code unit used by a pattern gets a class; everything else is class 0.
  const cls = new Uint16Array(65536);
  let classes = 1;
  for (const p of patterns) {
    for (let i = 0; i < p.length; i++) {
      const c = p.charCodeAt(i);
      if (cls[c] === 0) cls[c] = classes++;
    }
  }

  // Trie.
  const children: Map<number, number>[] = [new Map()];
  const own: number[] = [0];
  const depthList: number[] = [0];
  let maxLen = 0;
  for (const p of patterns) {
    let s = 0;
    for (let i = 0; i < p.length; i++) {
      const k = cls[p.charCodeAt(i)]!;
      const row = children[s]!;
      let next = row.get(k);
      if (next === undefined) {
        next = children.length;
        children.push(new Map());
        own.push(0);
        depthList.push(i + 1);
        row.set(k, next);
      }
      s = next;
    }
    own[s] = Math.max(own[s]!, p.length);
    maxLen = Math.max(maxLen, p.length);
  }

  const size = children.length;
  const fail = new Int32Array(size);
  const outLen = new Int32Array(size);
  const depth = Int32Array.from(depthList);
  const hold = new Int32Array(size);
  const dense = size * classes <= DENSE_LIMIT;
  const table = dense ? new Int32Array(size * classes) : new Int32Array(0);

  // Breadth-first: a state's failure link is shallower, so it is complete when the state is reached.
  const queue = new Int32Array(size);
  let head = 0;
  let tail = 0;
  for (const [k, child] of children[0]!) {
    fail[child] = 0;
    queue[tail++] = child;
    if (dense) table[k] = child;
  }
  outLen[0] = 0;
  while (head < tail) {
    const s = queue[head++]!;
    outLen[s] = Math.max(own[s]!, outLen[fail[s]!]!);
    hold[s] = children[s]!.size > 0 ? depth[s]! : hold[fail[s]!]!;
    if (dense) {
      const base = s * classes;
      const fbase = fail[s]! * classes;
      for (let k = 0; k < classes; k++) table[base + k] = table[fbase + k]!;
    }
    for (const [k, child] of children[s]!) {
      let f = fail[s]!;
      while (f !== 0 && !children[f]!.has(k)) f = fail[f]!;
      const target = children[f]!.get(k);
      fail[child] = target !== undefined && target !== child ? target : 0;
      queue[tail++] = child;
      if (dense) table[s * classes + k] = child;
    }
  }

  // Dense rows hold the next state premultiplied by the row width, negated (minus one) when a
  // pattern ends there: one load and one predictable branch per character.
  if (dense) {
    for (let i = 0; i < table.length; i++) {
      const next = table[i]!;
      table[i] = outLen[next] !== 0 ? -(next * classes) - 1 : next * classes;
    }
  }
  // The hot loop reads UTF-16 code units from a typed array, not `String.prototype.charCodeAt`:
  // once any class in the process extends `String` (ioredis does), V8 stops inlining
  // `charCodeAt` and a charCodeAt loop runs about 5x slower. Chunks are copied into a reused
  // buffer as UTF-16LE (a native copy, 64 Ki code units at a time), read as a Uint16Array on
  // little-endian machines.
  const WINDOW = 64 * 1024;
  const scratch = Buffer.allocUnsafeSlow(WINDOW * 2);
  const units = new Uint16Array(scratch.buffer, scratch.byteOffset, WINDOW);
  const runDense = (state: number, text: string, matches: number[]): number => {
    const t = table;
    const k = cls;
    let row = state * classes;
    const n = text.length;
    if (LITTLE_ENDIAN) {
      // Window by window, so a huge chunk needs no huge buffer.
      for (let base = 0; base < n; base += WINDOW) {
        const len = Math.min(WINDOW, n - base);
        scratch.write(len === n ? text : text.slice(base, base + len), 0, len * 2, "utf16le");
        const u = units;
        for (let i = 0; i < len; i++) {
          const v = t[row + k[u[i]!]!]!;
          if (v >= 0) {
            row = v;
          } else {
            row = -v - 1;
            matches.push(base + i, outLen[row / classes]!);
          }
        }
      }
      return row / classes;
    }
    for (let i = 0; i < n; i++) {
      const v = t[row + k[text.charCodeAt(i)]!]!;
      if (v >= 0) {
        row = v;
      } else {
        row = -v - 1;
        matches.push(i, outLen[row / classes]!);
      }
    }
    return row / classes;
  };

  const runSparse = (state: number, text: string, matches: number[]): number => {
    let s = state;
    const n = text.length;
    for (let i = 0; i < n; i++) {
      const k = cls[text.charCodeAt(i)]!;
      if (k === 0) {
        s = 0;
        continue;
      }
      for (;;) {
        const next = children[s]!.get(k);
        if (next !== undefined) {
          s = next;
          break;
        }
        if (s === 0) break;
        s = fail[s]!;
      }
      const len = outLen[s]!;
      if (len !== 0) matches.push(i, len);
    }
    return s;
  };

  return { size, outLen, hold, maxLen, run: dense ? runDense : runSparse };
}
