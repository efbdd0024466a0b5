import { defineProject } from "vitest/config";
import { sharedTestConfig } from "../vitest.shared.js";

const config = sharedTestConfig("vm-service");
// Machines boot a Docker engine of their own: give them time when the whole suite loads the host.
config.test = { ...config.test, testTimeout: 300_000, hookTimeout: 300_000 };
export default defineProject(config);
