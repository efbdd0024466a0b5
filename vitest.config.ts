import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      "nomad-jobs",
      "output-processor",
      "vm-service",
      "control-plane",
      "build-agent",
      "integration",
    ],
  },
});
