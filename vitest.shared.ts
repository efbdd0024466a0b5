import { fileURLToPath } from "node:url";
import type { UserWorkspaceConfig } from "vitest/config";

const root = fileURLToPath(new URL(".", import.meta.url));

/** Test config shared by every workspace: `@drover/<ws>[/<sub>]` resolves to its TypeScript source. */
export function sharedTestConfig(name: string): UserWorkspaceConfig {
  return {
    resolve: {
      alias: [
        { find: /^@drover\/([a-z-]+)$/, replacement: `${root}$1/src/index.ts` },
        { find: /^@drover\/([a-z-]+)\/([a-z-]+)$/, replacement: `${root}$1/src/$2/index.ts` },
      ],
    },
    test: {
      name,
      include: ["test/**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 120_000,
    },
  };
}
