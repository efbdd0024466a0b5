import { buildAutomaton, type Automaton, type AutomatonOptions } from "./automaton.js";
import { MASK, maskPatterns } from "./patterns.js";

/**
 * Masks one output stream whose text arrives in chunks. `push` returns the masked text that is
 * final; it holds back only the suffix that could still begin a secret (at most the longest
 * pattern's length minus one). `end` returns the rest. After `end` the masker is reset and may be
 * reused for a new stream. Every maximal run of characters covered by any occurrence of any
 * pattern becomes one `****`, however the text was split into chunks.
 */
export interface StreamMasker {
  push(chunk: string): string;
  end(): string;
}

export interface Masker {
  /** A new, independent stream masker over the same secrets. */
  stream(): StreamMasker;
  /** Masks a whole text at once. */
  maskAll(text: string): string;
}

/** Tuning of the matcher; the defaults suit every use. */
export type MaskerOptions = AutomatonOptions;

/**
 * Builds a masker for these secret values and every encoded form of them (`maskPatterns`). Values
 * under 4 characters and true/True/false/False are left alone. Building costs time linear in the
 * total pattern length; reuse one masker for every stream of a task.
 */
export function createMasker(secrets: readonly string[], opts: MaskerOptions = {}): Masker {
  const patterns = maskPatterns(secrets);
  if (patterns.length === 0) {
    return {
      stream: () => ({ push: (chunk) => chunk, end: () => "" }),
      maskAll: (text) => text,
    };
  }
  const automaton = buildAutomaton(patterns, opts);
  return {
    stream: () => new AutomatonStreamMasker(automaton),
    maskAll: (text) => {
      const s = new AutomatonStreamMasker(automaton);
      return s.push(text) + s.end();
    },
  };
}

class AutomatonStreamMasker implements StreamMasker {
  private state = 0;
  /** Absolute offset of the next character to read. */
  private pos = 0;
  /** Text read but not yet emitted; `pending[0]` is at absolute offset `base`. */
  private pending = "";
  private base = 0;
  /** Covered intervals `[start, end)` (absolute), sorted, merged (touching ones too), flat pairs. */
  private covered: number[] = [];
  /** Whether the last character emitted was covered (a run that continues shares its `****`). */
  private maskOpen = false;
  /** Scratch list of (end, length) pairs from the automaton, reused across pushes. */
  private readonly matches: number[] = [];

  constructor(private readonly automaton: Automaton) {}

  push(chunk: string): string {
    if (chunk.length === 0) return "";
    const m = this.matches;
    this.state = this.automaton.run(this.state, chunk, m);
    for (let i = 0; i < m.length; i += 2) {
      const end = this.pos + m[i]! + 1;
      this.cover(end - m[i + 1]!, end);
    }
    m.length = 0;
    this.pos += chunk.length;
    this.pending = this.pending.length === 0 ? chunk : this.pending + chunk;
    return this.emit(this.pos - this.automaton.hold[this.state]!);
  }

  end(): string {
    const out = this.emit(this.pos);
    this.state = 0;
    this.pos = 0;
    this.base = 0;
    this.pending = "";
    this.covered = [];
    this.maskOpen = false;
    return out;
  }

  // Matches arrive in order of their end, so a new interval only ever merges with the last ones.
  private cover(start: number, end: number): void {
    const c = this.covered;
    let s = start;
    while (c.length > 0 && c[c.length - 1]! >= s) {
      const prevStart = c[c.length - 2]!;
      c.length -= 2;
      if (prevStart < s) s = prevStart;
    }
    c.push(s, end);
  }

  /** Emits `[base, upTo)`, keeping the part of any covered interval that reaches past `upTo`. */
  private emit(upTo: number): string {
    const base = this.base;
    if (upTo <= base) return "";
    const text = this.pending;
    const c = this.covered;
    if (c.length === 0 || c[0]! >= upTo) {
      this.maskOpen = false;
      this.pending = text.slice(upTo - base);
      this.base = upTo;
      return upTo - base === text.length ? text : text.slice(0, upTo - base);
    }
    let out = "";
    let at = base;
    let i = 0;
    let open = this.maskOpen;
    while (i < c.length && c[i]! < upTo) {
      const s = c[i]!;
      const e = c[i + 1]!;
      if (s > at) {
        out += text.slice(at - base, s - base);
        open = false;
      }
      if (!open) out += MASK;
      open = true;
      at = Math.min(e, upTo);
      if (e > upTo) {
        c[i] = upTo;
        break;
      }
      i += 2;
    }
    if (at < upTo) {
      out += text.slice(at - base, upTo - base);
      open = false;
    }
    if (i > 0) c.splice(0, i);
    this.maskOpen = open;
    this.pending = text.slice(upTo - base);
    this.base = upTo;
    return out;
  }
}
