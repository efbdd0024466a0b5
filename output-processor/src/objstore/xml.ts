/** Just enough XML for S3's flat response documents: escape, and read a tag's text. */

export function xmlEscape(s: string): string {
  return s
    .replace(/&/g, "&amp;")
    .replace(/</g, "&lt;")
    .replace(/>/g, "&gt;")
    .replace(/"/g, "&quot;")
    .replace(/'/g, "&apos;");
}

export function xmlUnescape(s: string): string {
  return s.replace(/&(#x[0-9a-fA-F]+|#[0-9]+|amp|lt|gt|quot|apos);/g, (_, e: string) => {
    if (e === "amp") return "&";
    if (e === "lt") return "<";
    if (e === "gt") return ">";
    if (e === "quot") return '"';
    if (e === "apos") return "'";
    return String.fromCodePoint(e[1] === "x" ? parseInt(e.slice(2), 16) : parseInt(e.slice(1), 10));
  });
}

/** Raw inner text of every `<tag>...</tag>` (not nested in itself), in order. */
export function xmlBlocks(xml: string, tag: string): string[] {
  const out: string[] = [];
  const re = new RegExp(`<${tag}(?:\\s[^>]*)?>([\\s\\S]*?)</${tag}>|<${tag}(?:\\s[^>]*)?/>`, "g");
  for (const m of xml.matchAll(re)) out.push(m[1] ?? "");
  return out;
}

/** Unescaped text of the first `<tag>`, or null. */
export function xmlText(xml: string, tag: string): string | null {
  const b = xmlBlocks(xml, tag)[0];
  return b === undefined ? null : xmlUnescape(b);
}

/** An element with text children, escaped: `el("Key", k)`; undefined values are left out. */
export function el(tag: string, value: string | number | boolean | undefined): string {
  return value === undefined ? "" : `<${tag}>${xmlEscape(String(value))}</${tag}>`;
}
