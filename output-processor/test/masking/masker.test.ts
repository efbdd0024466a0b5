import { describe, expect, it } from "vitest";
import { createMasker, maskPatterns, MASK, type MaskerOptions } from "@drover/output-processor";

/** The specification, written the slow obvious way: mark every covered character, collapse runs. */
function referenceMask(secrets: readonly string[], text: string): string {
  const covered = new Uint8Array(text.length);
  for (const p of maskPatterns(secrets)) {
    for (let i = text.indexOf(p); i !== -1; i = text.indexOf(p, i + 1)) {
      covered.fill(1, i, i + p.length);
    }
  }
  let out = "";
  for (let i = 0; i < text.length; i++) {
    if (!covered[i]) out += text[i];
    else if (i === 0 || !covered[i - 1]) out += MASK;
  }
  return out;
}

/** Deterministic PRNG (mulberry32) so a failing case can be replayed from its seed. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function streamed(
  secrets: readonly string[],
  text: string,
  cuts: number[],
  opts: MaskerOptions = {},
): string {
  const s = createMasker(secrets, opts).stream();
  let out = "";
  let at = 0;
  for (const cut of [...cuts, text.length]) {
    out += s.push(text.slice(at, cut));
    at = cut;
  }
  return out + s.end();
}

describe("createMasker", () => {
  it("masks a value, its base64 and its URL-encoded form", () => {
    const secret = "p@ss word/1+2";
    const m = createMasker([secret]);
    const b64 = Buffer.from(secret).toString("base64");
    const text = `a ${secret} b ${b64} c ${encodeURIComponent(secret)} d ${encodeURIComponent(secret).replaceAll("%20", "+")} e`;
    expect(m.maskAll(text)).toBe("a **** b **** c **** d **** e");
  });

  it("masks base64 with and without padding and in the URL-safe alphabet", () => {
    const secret = "ab?>de"; // base64 "YWI/PmRl", url-safe "YWI_PmRl"
    const m = createMasker([secret]);
    expect(m.maskAll("x YWI/PmRl y YWI_PmRl z")).toBe("x **** y **** z");
    const padded = Buffer.from("abcd").toString("base64"); // YWJjZA==
    expect(createMasker(["abcd"]).maskAll(`[${padded}] [YWJjZA]`)).toBe("[****] [****]");
  });

  it("masks each line of a multi-line secret, as tools print them line by line", () => {
    const pem = "-----BEGIN KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n  abc\n-----END KEY-----\n";
    const m = createMasker([pem]);
    expect(m.maskAll(`key:\n${pem}`)).toBe("key:\n****");
    expect(m.maskAll("> MIIEvQIBADANBgkqhkiG9w0BAQEFAASC <")).toBe("> **** <");
    expect(m.maskAll("abc stays")).toBe("abc stays");
  });

  it("leaves short values and booleans alone, as CircleCI does", () => {
    const m = createMasker(["abc", "true", "True", "false", "False", "", "x"]);
    const text = "abc true True false False x";
    expect(m.maskAll(text)).toBe(text);
    expect(createMasker(["TRUE"]).maskAll("is TRUE")).toBe("is ****");
  });

  it("collapses overlapping and adjacent occurrences into one mask", () => {
    const m = createMasker(["abcdef", "cdefgh", "zzzz"]);
    expect(m.maskAll("1abcdefgh2")).toBe("1****2");
    expect(m.maskAll("zzzzzzzz|zzzz zzzz")).toBe("****|**** ****");
  });

  it("keeps a secret that spans chunk boundaries hidden and holds back only a possible prefix", () => {
    const s = createMasker(["supersecret"]).stream();
    expect(s.push("hello sup")).toBe("hello ");
    expect(s.push("ers")).toBe("");
    expect(s.push("ecret!")).toBe("****!");
    expect(s.push("no prefix here")).toBe("no prefix here");
    expect(s.push(" su")).toBe(" ");
    expect(s.end()).toBe("su");
  });

  it("does not hold back a completed secret that cannot grow", () => {
    const s = createMasker(["abcd"]).stream();
    expect(s.push("xabcd")).toBe("x****");
    expect(s.push("abcd")).toBe("");
    expect(s.end()).toBe("");
  });

  it("handles non-ASCII secrets and text", () => {
    const secret = "clé-secrète-🔑";
    const m = createMasker([secret]);
    expect(m.maskAll(`→ ${secret} ←`)).toBe("→ **** ←");
    const text = `x${secret}y`;
    for (let cut = 0; cut <= text.length; cut++) {
      expect(streamed([secret], text, [cut])).toBe("x****y");
    }
  });

  it("handles lone surrogates and chunks larger than the internal window", () => {
    const odd = "ab\uD800cd\uDFFFef";
    expect(createMasker([odd]).maskAll(`[${odd}]`)).toBe("[****]");
    const secret = "window-boundary-secret";
    const big = "x".repeat(65_536 - 7) + secret + "y".repeat(70_000) + secret;
    expect(createMasker([secret]).maskAll(big)).toBe(
      "x".repeat(65_536 - 7) + "****" + "y".repeat(70_000) + "****",
    );
  });

  it("with no maskable secret returns text unchanged", () => {
    const m = createMasker(["ab"]);
    const s = m.stream();
    expect(s.push("ab ab")).toBe("ab ab");
    expect(s.end()).toBe("");
  });

  // A tiny dense budget leaves most states without a row: the compact path is checked too.
  for (const opts of [{}, { denseEntries: 16 }] as MaskerOptions[]) {
    it(`matches the reference for random texts, secret sets and chunk splits (${JSON.stringify(opts)})`, () => {
      for (let seed = 1; seed <= 400; seed++) {
        const r = rng(seed);
        // A tiny alphabet makes overlaps, repeats and near-misses frequent.
        const alphabet = seed % 2 === 0 ? "ab" : "abc=+/%Y2";
        const word = (min: number, max: number): string => {
          const n = min + Math.floor(r() * (max - min + 1));
          let w = "";
          for (let i = 0; i < n; i++) w += alphabet[Math.floor(r() * alphabet.length)];
          return w;
        };
        const secrets = Array.from({ length: 1 + Math.floor(r() * 5) }, () => word(1, 7));
        let text = word(0, 40);
        for (const sec of secrets) {
          if (r() < 0.7) text += sec + word(0, 3);
          if (r() < 0.3) text += Buffer.from(sec).toString("base64") + word(0, 2);
        }
        text += word(0, 20);
        const expected = referenceMask(secrets, text);
        expect(createMasker(secrets, opts).maskAll(text), `seed ${seed}`).toBe(expected);
        for (let k = 0; k < 5; k++) {
          const cuts = Array.from({ length: Math.floor(r() * 8) }, () =>
            Math.floor(r() * (text.length + 1)),
          ).sort((a, b) => a - b);
          expect(streamed(secrets, text, cuts, opts), `seed ${seed} cuts ${cuts.join(",")}`).toBe(
            expected,
          );
        }
        // One character at a time is the hardest split.
        expect(
          streamed(
            secrets,
            text,
            [...text].map((_, i) => i),
            opts,
          ),
        ).toBe(expected);
      }
    });
  }

  it("masks with many secrets like the reference (dense and long texts)", () => {
    const r = rng(99);
    const hex = (n: number): string =>
      Array.from({ length: n }, () => Math.floor(r() * 16).toString(16)).join("");
    const secrets = Array.from({ length: 300 }, () => hex(8 + Math.floor(r() * 30)));
    const parts: string[] = [];
    for (let i = 0; i < 2000; i++) {
      const sec = secrets[Math.floor(r() * secrets.length)]!;
      const roll = r();
      parts.push(
        roll < 0.1 ? sec : roll < 0.15 ? Buffer.from(sec).toString("base64") : hex(20) + " ",
      );
    }
    const text = parts.join("");
    const expected = referenceMask(secrets, text);
    expect(createMasker(secrets).maskAll(text)).toBe(expected);
    const cuts = Array.from({ length: 200 }, () => Math.floor(r() * text.length)).sort(
      (a, b) => a - b,
    );
    expect(streamed(secrets, text, cuts)).toBe(expected);
    expect(expected).not.toContain(secrets[0]!);
  });

  it("matches the reference on the sparse automaton (huge alphabets)", () => {
    const r = rng(7);
    // 1,000 secrets over ~20,000 distinct code units: only the root and a few states get a row.
    const word = (n: number): string =>
      Array.from({ length: n }, () => String.fromCharCode(0x4e00 + Math.floor(r() * 20_000))).join(
        "",
      );
    const secrets = Array.from({ length: 1000 }, () => word(6 + Math.floor(r() * 10)));
    const parts: string[] = [];
    for (let i = 0; i < 400; i++) {
      parts.push(word(5), r() < 0.2 ? secrets[Math.floor(r() * secrets.length)]! : "", " ");
    }
    const text = parts.join("");
    const expected = referenceMask(secrets, text);
    expect(expected).toContain("****");
    const cuts = Array.from({ length: 50 }, () => Math.floor(r() * text.length)).sort(
      (a, b) => a - b,
    );
    expect(streamed(secrets, text, cuts)).toBe(expected);
  });

  it("a stream masker can be reused after end()", () => {
    const s = createMasker(["secret1"]).stream();
    expect(s.push("secr") + s.end()).toBe("secr");
    expect(s.push("secret1") + s.end()).toBe("****");
  });
});

describe("maskPatterns", () => {
  it("is a pure function of the set of values", () => {
    const a = maskPatterns(["p@ss word", "s3cr3t-token", "p@ss word"]);
    expect(maskPatterns(["s3cr3t-token", "p@ss word"])).toEqual(a);
    expect(a).toEqual([...new Set(a)].sort());
    expect(a).toEqual(expect.arrayContaining(["p@ss word", "p%40ss%20word", "p%40ss+word"]));
  });
});
