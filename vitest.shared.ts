import { fileURLToPath } from "node:url";
import type { UserWorkspaceConfig } from "vitest/config";

const root = fileURLToPath(new URL(".", import.meta.url));

/** Where each `@drover/<name>` package lives, relative to the repository root. */
const PACKAGES: Record<string, string> = {
  tls: "tls",
  "config-compiler": "control-plane/compiler",
  "task-api": "control-plane/task-api",
  "control-plane": "control-plane/server",
  cli: "control-plane/cli",
  web: "control-plane/web",
  "nomad-jobs": "nomad-jobs",
  "output-processor": "output-processor",
  "vm-service": "vm-service",
  "build-agent": "build-agent",
  integration: "integration",
};

/** Test config shared by every workspace: `@drover/<pkg>[/<sub>]` resolves to its TypeScript source. */
export function sharedTestConfig(name: string): UserWorkspaceConfig {
  const alias = Object.entries(PACKAGES).flatMap(([pkg, dir]) => [
    { find: new RegExp(`^@drover/${pkg}$`), replacement: `${root}${dir}/src/index.ts` },
    {
      find: new RegExp(`^@drover/${pkg}/([a-z-]+)$`),
      replacement: `${root}${dir}/src/$1/index.ts`,
    },
  ]);
  return {
    resolve: { alias },
    test: {
      name,
      include: ["test/**/*.test.ts"],
      testTimeout: 60_000,
      hookTimeout: 120_000,
    },
  };
}
