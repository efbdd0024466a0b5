import { execFileSync, spawnSync } from "node:child_process";
import { describe, expect, it } from "vitest";
import { MASK, createMasker, maskPatterns } from "@drover/output-processor";
import { TOOL_FORMS, TRICKY_SECRETS, tool } from "../helpers/secret-forms.js";

/** Streams `text` through a fresh stream masker in two pieces cut at `cut`. */
function twoPieces(masker: ReturnType<typeof createMasker>, text: string, cut: number): string {
  const s = masker.stream();
  return s.push(text.slice(0, cut)) + s.push(text.slice(cut)) + s.end();
}

describe("masking every form real tools print", () => {
  it("the tools are here (tests never skip for them)", () => {
    for (const cmd of ["base64", "basenc", "openssl", "xxd", "bash", "/usr/bin/python3", "jq"]) {
      expect(spawnSync("sh", ["-c", `command -v ${cmd}`]).status, cmd).toBe(0);
    }
    expect(execFileSync("base64", [], { input: "x".repeat(58) }).toString()).toContain("\n");
  });

  for (const secret of TRICKY_SECRETS) {
    it(`masks ${JSON.stringify(secret)} in each form, split at every offset`, () => {
      const masker = createMasker([secret]);
      for (const form of TOOL_FORMS) {
        const printed = form.output(secret);
        if (printed === null) continue;
        const masked = masker.maskAll(printed);
        expect(masked, `${form.name}: ${JSON.stringify(printed)}`).toMatch(form.masked);
        for (let cut = 0; cut <= printed.length; cut++) {
          expect(twoPieces(masker, printed, cut), `${form.name}, cut at ${cut}`).toBe(masked);
        }
      }
    });
  }

  it("masks a Basic auth header and a wrapped base64 line printed after a prefix", () => {
    const secret = TRICKY_SECRETS[12] as string;
    const masker = createMasker([secret]);
    const header = `Authorization: Basic ${Buffer.from(`deploy:${secret}`).toString("base64")}`;
    expect(masker.maskAll(header)).toMatch(
      /^Authorization: Basic [A-Za-z0-9+/]{0,12}\*{4}[A-Za-z0-9+/=]{0,4}$/,
    );
    const lines = tool("base64", [], { input: secret }).trimEnd().split("\n");
    expect(lines.length).toBeGreaterThan(1);
    const prefixed = lines.map((l, i) => `12:00:0${i} ${l}`).join("\n");
    expect(masker.maskAll(prefixed)).toBe(lines.map((_, i) => `12:00:0${i} ${MASK}`).join("\n"));
  });

  it("derives patterns from maskable values only, and every percent form in both cases", () => {
    expect(maskPatterns(["no", "false", "True", ""])).toEqual([]);
    const p = maskPatterns(["a b/c"]);
    for (const form of [
      "a b/c",
      "a%20b%2Fc",
      "a%20b%2fc",
      "a+b%2Fc",
      "a+b%2fc",
      "a%20b/c",
      "a\\ b/c",
    ]) {
      expect(p).toContain(form);
    }
    // The Go and PHP JSON forms: HTML-safe escapes and escaped slashes.
    expect(maskPatterns(["<a&b>/é"])).toEqual(
      expect.arrayContaining(["\\u003ca\\u0026b\\u003e/é", "<a&b>\\/\\u00e9"]),
    );
  });
});
