import { fileURLToPath } from "node:url";
import { defineConfig } from "vitest/config";
import { sharedTestConfig } from "../vitest.shared.js";

const shared = sharedTestConfig("stack");

/** The distributed stack's suite alone, one file at a time (`npm run test:stack`). */
export default defineConfig({
  ...shared,
  root: fileURLToPath(new URL(".", import.meta.url)),
  test: {
    ...shared.test,
    include: ["test/stack/**/*.test.ts"],
    fileParallelism: false,
    reporters: ["default", "../vitest.summary-reporter.ts"],
  },
});
