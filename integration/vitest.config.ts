import { defineProject } from "vitest/config";
import { sharedTestConfig } from "../vitest.shared.js";

const shared = sharedTestConfig("integration");

// The distributed stack's suite (test/stack) runs on its own after the rest (`npm run test:stack`,
// vitest.stack.config.ts): it loads the host with a dozen containers.
export default defineProject({
  ...shared,
  test: { ...shared.test, exclude: ["**/node_modules/**", "test/stack/**"] },
});
