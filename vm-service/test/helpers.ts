import { spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { describe } from "vitest";
import { PostgresSql } from "@drover/vm-service";

const dockerReady = spawnSync("docker", ["image", "inspect", "drover/machine:latest"]).status === 0;
if (!dockerReady && process.env.CI === "true") {
  throw new Error("CI: Docker with drover/machine:latest is required (npm run images)");
}
/** `describe` when Docker and the machine image are here; in CI their absence fails instead. */
export const describeDocker = dockerReady ? describe : describe.skip;

export const DATABASE_URL =
  process.env.DROVER_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

/** A PostgreSQL schema of the test's own. */
export function testDatabase(): PostgresSql {
  return new PostgresSql({
    connectionString: DATABASE_URL,
    schema: `vm_${randomUUID().replace(/-/g, "").slice(0, 16)}`,
  });
}
