import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    reporters: ["default", "./vitest.summary-reporter.ts"],
    projects: [
      "tls",
      "nomad-jobs",
      "output-processor",
      "vm-service",
      "control-plane/compiler",
      "control-plane/task-api",
      "control-plane/server",
      "control-plane/cli",
      "control-plane/web",
      "build-agent",
      "integration",
    ],
  },
});
