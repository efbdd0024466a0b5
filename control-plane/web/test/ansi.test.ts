import { describe, expect, it } from "vitest";
import { ansiToHtml, createAnsiRenderer } from "@drover/web";

describe("ANSI SGR to HTML", () => {
  it("escapes HTML in plain text", () => {
    expect(ansiToHtml(`<script>alert("x")</script> & 'y'`)).toBe(
      "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;",
    );
  });

  it("renders the 16 colours, bold and resets as spans", () => {
    expect(ansiToHtml("\x1b[31mred\x1b[0m plain")).toBe('<span class="ansi-fg-1">red</span> plain');
    expect(ansiToHtml("\x1b[1;92mok\x1b[22m thin\x1b[39m")).toBe(
      '<span class="ansi-fg-10 ansi-bold">ok</span><span class="ansi-fg-10"> thin</span>',
    );
    expect(ansiToHtml("\x1b[44;37mx\x1b[49my\x1b[m")).toBe(
      '<span class="ansi-fg-7 ansi-bg-4">x</span><span class="ansi-fg-7">y</span>',
    );
    expect(ansiToHtml("\x1b[3;4mu\x1b[23;24mv")).toBe(
      '<span class="ansi-italic ansi-underline">u</span>v',
    );
  });

  it("renders 256-colour and truecolor as inline styles", () => {
    expect(ansiToHtml("\x1b[38;5;196mA")).toBe('<span style="color:#ff0000">A</span>');
    expect(ansiToHtml("\x1b[38;5;244mB")).toBe('<span style="color:#808080">B</span>');
    expect(ansiToHtml("\x1b[38;5;9mC")).toBe('<span class="ansi-fg-9">C</span>');
    expect(ansiToHtml("\x1b[48;2;1;2;255mD")).toBe(
      '<span style="background-color:#0102ff">D</span>',
    );
    // Out-of-range values change nothing.
    expect(ansiToHtml("\x1b[38;2;300;0;0mE")).toBe("E");
  });

  it("swaps colours for inverse video", () => {
    expect(ansiToHtml("\x1b[7mI")).toBe('<span class="ansi-inv-fg ansi-inv-bg">I</span>');
    expect(ansiToHtml("\x1b[31;7mJ")).toBe('<span class="ansi-inv-fg ansi-bg-1">J</span>');
  });

  it("drops other escape sequences and control characters", () => {
    expect(ansiToHtml("a\x1b[2Kb\x1b[1;1Hc\x1b[?25ld")).toBe("abcd");
    expect(ansiToHtml("\x1b]0;title\x07x\x1b]8;;http://h\x1b\\link\x1b]8;;\x1b\\")).toBe("xlink");
    expect(ansiToHtml("bell\x07 back\x08 tab\t")).toBe("bell back tab\t");
  });

  it("keeps colour state and split escapes across chunks", () => {
    const r = createAnsiRenderer();
    expect(r.push("\x1b[3")).toBe("");
    expect(r.push("2mgreen")).toBe('<span class="ansi-fg-2">green</span>');
    expect(r.push(" still")).toBe('<span class="ansi-fg-2"> still</span>');
    expect(r.push("\x1b")).toBe("");
    expect(r.push("[0mdone")).toBe("done");
    r.push("\x1b[31m");
    r.reset();
    expect(r.push("clean")).toBe("clean");
  });
});
