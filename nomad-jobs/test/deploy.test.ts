import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const dir = fileURLToPath(new URL("../deploy/", import.meta.url));
const files = readdirSync(dir).filter((f) => f.endsWith(".nomad.hcl"));

/** Block structure of an HCL file: braces balance outside strings and heredocs. */
function blockDepthProblems(text: string): string[] {
  const problems: string[] = [];
  let depth = 0;
  let heredoc: string | null = null;
  for (const [n, line] of text.split("\n").entries()) {
    if (heredoc) {
      if (line.trim() === heredoc) heredoc = null;
      continue;
    }
    const hd = /<<-?([A-Z]+)\s*$/.exec(line);
    const code = line.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/#.*$/, "");
    if ((code.match(/"/g) ?? []).length % 2 !== 0)
      problems.push(`line ${n + 1}: unterminated string`);
    for (const c of code) {
      if (c === "{") depth++;
      if (c === "}") depth--;
      if (depth < 0) problems.push(`line ${n + 1}: unbalanced }`);
    }
    if (hd) heredoc = hd[1]!;
  }
  if (depth !== 0) problems.push(`unbalanced braces (depth ${depth} at end)`);
  if (heredoc) problems.push(`unterminated heredoc ${heredoc}`);
  return problems;
}

describe("deploy jobspecs", () => {
  it("has the control plane, output-processor and vm-service", () => {
    expect(files.sort()).toEqual([
      "control-plane.nomad.hcl",
      "output-processor.nomad.hcl",
      "vm-service.nomad.hcl",
    ]);
  });

  for (const f of files) {
    it(`${f}: a service job with an update block, health checks and no inline secret`, () => {
      const text = readFileSync(join(dir, f), "utf8");
      expect(blockDepthProblems(text)).toEqual([]);
      expect(text).toMatch(/^job "drover-[a-z-]+" \{$/m);
      expect(text).toMatch(/^\s+type\s+= "service"$/m);
      expect(text).toMatch(/^\s+update \{$/m);
      expect(text).toMatch(/^\s+health_check\s+= "checks"$/m);
      expect(text).toMatch(/^\s+check \{$/m);
      expect(text).toMatch(/^\s+path\s+= "\/healthz"$/m);
      // Secrets come from Nomad variables through templates, never literals.
      for (const line of text.split("\n")) {
        const assignment = /^\s*([A-Z_]*(TOKEN|PASSWORD|SECRET|KEY)[A-Z_]*)\s*=\s*(.*)$/.exec(line);
        if (assignment) expect(assignment[3], line).toMatch(/^\{\{ \.[A-Z_]+ \}\}$/);
      }
    });
  }
});
