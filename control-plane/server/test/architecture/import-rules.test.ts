import { fileURLToPath } from "node:url";
import { ESLint } from "eslint";
import { describe, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../../", import.meta.url));
const eslint = new ESLint({ cwd: ROOT });

/** The `no-restricted-imports` messages the repository's lint config gives `code` at `file`. */
async function restricted(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(`${code}\nexport { x };\n`, {
    filePath: `${ROOT}${file}`,
  });
  return (result?.messages ?? [])
    .filter((m) => m.ruleId === "no-restricted-imports")
    .map((m) => m.message);
}

describe("folder import rules (eslint.config.mjs)", () => {
  it("keep the engine and the schedulers off the API layer", async () => {
    const api = 'import { x } from "../api/server.js";';
    expect(await restricted("control-plane/server/src/engine/new.ts", api)).toEqual([
      expect.stringContaining("never import the API layer"),
    ]);
    expect(
      await restricted(
        "control-plane/server/src/scheduler/nomad/new.ts",
        'import { x } from "../../api/server.js";',
      ),
    ).toHaveLength(1);
    expect(
      await restricted(
        "control-plane/server/src/scheduler/nomad/new.ts",
        'import { x } from "../../auth/guards.js";',
      ),
    ).toEqual([]);
    expect(await restricted("control-plane/server/src/pipelines/new.ts", api)).toEqual([]);
  });

  it("keep the compiler a leaf", async () => {
    for (const code of [
      'import { x } from "@drover/task-api";',
      'import { x } from "../../server/src/index.js";',
    ]) {
      expect(await restricted("control-plane/compiler/src/new.ts", code), code).toContainEqual(
        expect.stringContaining("compiler imports nothing of the project"),
      );
    }
    expect(
      await restricted("control-plane/compiler/src/new.ts", 'import { x } from "yaml";'),
    ).toEqual([]);
  });

  it("keep every workspace out of another's files", async () => {
    for (const code of [
      'import { x } from "@drover/control-plane/src/api/server.js";',
      'import { x } from "../../server/src/api/server.js";',
      'import { x } from "../../../nomad-jobs/src/index.js";',
    ]) {
      expect(await restricted("control-plane/cli/src/new.ts", code), code).toEqual([
        expect.stringMatching(/Import (@drover\/\S+|the package's exports)/),
      ]);
    }
  });

  it("hold for the tree as it is", async () => {
    const results = await eslint.lintFiles([
      "control-plane/server/src/engine",
      "control-plane/server/src/scheduler",
      "control-plane/compiler/src",
    ]);
    const broken = results.flatMap((r) =>
      r.messages
        .filter((m) => m.ruleId === "no-restricted-imports")
        .map((m) => `${r.filePath.slice(ROOT.length)}:${m.line}: ${m.message}`),
    );
    expect(broken).toEqual([]);
  });
});
