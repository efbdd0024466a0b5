import { readFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";

const src = resolve(dirname(fileURLToPath(import.meta.url)), "../src");

/** Every module the agent's client entry loads, following relative imports. */
function closure(entry: string): { files: Set<string>; packages: Set<string> } {
  const files = new Set<string>();
  const packages = new Set<string>();
  const visit = (file: string): void => {
    if (files.has(file)) return;
    files.add(file);
    const text = readFileSync(file, "utf8");
    for (const m of text.matchAll(/^import\s+(?!type\b)[^;]*?from\s+"([^"]+)";/gms)) {
      const spec = m[1] as string;
      if (spec.startsWith(".")) visit(join(dirname(file), spec.replace(/\.js$/, ".ts")));
      else packages.add(spec);
    }
  };
  visit(entry);
  return { files, packages };
}

describe("@drover/output-processor/client", () => {
  it("loads no server dependency (the build agent imports it)", () => {
    const { files, packages } = closure(join(src, "client/index.ts"));
    expect([...packages].sort()).toEqual(["@drover/tls", "node:util", "pino", "ws", "zod"]);
    for (const f of files) expect(f).not.toMatch(/\/(store|pubsub|pusher|ingest|http)\//);
  });
});
