/** ANSI SGR to HTML spans for the job page; the same module runs in the page and in tests. */

/** Converts chunks of terminal text to HTML; colour state and split escapes carry across chunks. */
export interface AnsiRenderer {
  /** HTML for `text` (escaped; SGR colours as spans; other escape sequences dropped). */
  push(text: string): string;
  /** Forgets the colour state (a new step starts clean). */
  reset(): void;
}

export function createAnsiRenderer(): AnsiRenderer {
  // Current attributes; null means the terminal default.
  let fg: string | null = null;
  let bg: string | null = null;
  let bold = false;
  let dim = false;
  let italic = false;
  let underline = false;
  let inverse = false;
  // An escape sequence cut by the end of a chunk, completed by the next one.
  let pending = "";

  const escapeHtml = (s: string): string =>
    s
      .replace(/&/g, "&amp;")
      .replace(/</g, "&lt;")
      .replace(/>/g, "&gt;")
      .replace(/"/g, "&quot;")
      .replace(/'/g, "&#39;");

  // xterm's 256-colour palette: 16 named (as classes), a 6x6x6 cube, a grey ramp.
  const palette = (n: number): string | null => {
    if (!Number.isInteger(n) || n < 0 || n > 255) return null;
    if (n < 16) return `c${n}`;
    if (n < 232) {
      const i = n - 16;
      const level = (v: number): number => (v === 0 ? 0 : 55 + v * 40);
      return `#${[Math.floor(i / 36), Math.floor(i / 6) % 6, i % 6]
        .map((v) => level(v).toString(16).padStart(2, "0"))
        .join("")}`;
    }
    const g = (8 + (n - 232) * 10).toString(16).padStart(2, "0");
    return `#${g}${g}${g}`;
  };
  const rgb = (r: number, g: number, b: number): string | null =>
    [r, g, b].every((v) => Number.isInteger(v) && v >= 0 && v <= 255)
      ? `#${[r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("")}`
      : null;

  const clear = (): void => {
    fg = null;
    bg = null;
    bold = dim = italic = underline = inverse = false;
  };

  const applySgr = (params: string): void => {
    const codes = params === "" ? [0] : params.split(/[;:]/).map((p) => (p === "" ? 0 : Number(p)));
    for (let i = 0; i < codes.length; i++) {
      const c = codes[i] as number;
      if (c === 0) clear();
      else if (c === 1) bold = true;
      else if (c === 2) dim = true;
      else if (c === 3) italic = true;
      else if (c === 4) underline = true;
      else if (c === 7) inverse = true;
      else if (c === 22) bold = dim = false;
      else if (c === 23) italic = false;
      else if (c === 24) underline = false;
      else if (c === 27) inverse = false;
      else if (c >= 30 && c <= 37) fg = `c${c - 30}`;
      else if (c >= 90 && c <= 97) fg = `c${c - 90 + 8}`;
      else if (c === 39) fg = null;
      else if (c >= 40 && c <= 47) bg = `c${c - 40}`;
      else if (c >= 100 && c <= 107) bg = `c${c - 100 + 8}`;
      else if (c === 49) bg = null;
      else if (c === 38 || c === 48) {
        let colour: string | null;
        if (codes[i + 1] === 5) {
          colour = palette(codes[i + 2] as number);
          i += 2;
        } else if (codes[i + 1] === 2) {
          colour = rgb(codes[i + 2] as number, codes[i + 3] as number, codes[i + 4] as number);
          i += 4;
        } else {
          break;
        }
        if (colour !== null) {
          if (c === 38) fg = colour;
          else bg = colour;
        }
      }
    }
  };

  const open = (): string => {
    let f = fg;
    let b = bg;
    if (inverse) {
      f = bg ?? "inv-fg";
      b = fg ?? "inv-bg";
    }
    const classes: string[] = [];
    const styles: string[] = [];
    if (f !== null) {
      if (f.startsWith("#")) styles.push(`color:${f}`);
      else classes.push(f.startsWith("c") ? `ansi-fg-${f.slice(1)}` : `ansi-${f}`);
    }
    if (b !== null) {
      if (b.startsWith("#")) styles.push(`background-color:${b}`);
      else classes.push(b.startsWith("c") ? `ansi-bg-${b.slice(1)}` : `ansi-${b}`);
    }
    if (bold) classes.push("ansi-bold");
    if (dim) classes.push("ansi-dim");
    if (italic) classes.push("ansi-italic");
    if (underline) classes.push("ansi-underline");
    if (classes.length === 0 && styles.length === 0) return "";
    return `<span${classes.length ? ` class="${classes.join(" ")}"` : ""}${
      styles.length ? ` style="${styles.join(";")}"` : ""
    }>`;
  };

  const text = (s: string): string => {
    if (s === "") return "";
    // eslint-disable-next-line no-control-regex -- C0 controls other than tab show as nothing
    const clean = escapeHtml(s.replace(/[\x00-\x08\x0b-\x1f\x7f]/g, ""));
    if (clean === "") return "";
    const tag = open();
    return tag ? `${tag}${clean}</span>` : clean;
  };

  return {
    push(chunk: string): string {
      const input = pending + chunk;
      pending = "";
      let out = "";
      let i = 0;
      while (i < input.length) {
        const esc = input.indexOf("\x1b", i);
        if (esc < 0) {
          out += text(input.slice(i));
          break;
        }
        out += text(input.slice(i, esc));
        const kind = input[esc + 1];
        if (kind === undefined) {
          pending = input.slice(esc);
          break;
        }
        if (kind === "[") {
          // CSI: parameters 0x30-0x3f, intermediates 0x20-0x2f, a final byte 0x40-0x7e.
          let j = esc + 2;
          while (j < input.length && /[\x30-\x3f]/.test(input[j] as string)) j++;
          while (j < input.length && /[\x20-\x2f]/.test(input[j] as string)) j++;
          if (j >= input.length) {
            if (input.length - esc < 64) pending = input.slice(esc);
            break;
          }
          const final = input[j] as string;
          if (final === "m") applySgr(input.slice(esc + 2, j));
          i = j + 1;
        } else if (kind === "]") {
          // OSC (titles, hyperlinks): up to BEL or ESC \, dropped.
          const bel = input.indexOf("\x07", esc + 2);
          const st = input.indexOf("\x1b\\", esc + 2);
          const end = bel < 0 ? st : st < 0 ? bel : Math.min(bel, st);
          if (end < 0) {
            if (input.length - esc < 4096) pending = input.slice(esc);
            break;
          }
          i = end === bel ? end + 1 : end + 2;
        } else {
          // Two-byte escapes (ESC 7, ESC =, ...): dropped.
          i = esc + 2;
        }
      }
      return out;
    },
    reset(): void {
      clear();
      pending = "";
    },
  };
}

/** Converts one complete text with a fresh renderer. */
export function ansiToHtml(text: string): string {
  return createAnsiRenderer().push(text);
}
