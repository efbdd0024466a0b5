/**
 * `drover up --run examples/machine`: a `machine` job runs over SSH on a machine of its own from
 * the embedded vm-service, and a docker job builds, runs and composes an image on a remote engine
 * (`setup_remote_docker`). Both go green, and no machine outlives the run.
 */
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, realpathSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { drover, ensureBuilt, root } from "./drover-cli.js";

const hasMachineImage = (() => {
  try {
    execFileSync("docker", ["image", "inspect", "drover/machine:latest"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
})();
if (!hasMachineImage && process.env.CI === "true") {
  throw new Error("CI: drover/machine:latest is required (npm run images)");
}

beforeAll(ensureBuilt, 300_000);

/** Machines (containers) the embedded vm-service of the data directory `dataDir` made. */
function machinesOf(dataDir: string): string[] {
  const install = `drover-${createHash("sha256").update(dataDir).digest("hex").slice(0, 12)}`;
  const out = execFileSync("docker", [
    "ps",
    "-aq",
    "--filter",
    `label=io.drover.vm.tag.install=${install}`,
  ]).toString();
  return out.split("\n").filter(Boolean);
}

describe.skipIf(!hasMachineImage)("drover up --run examples/machine", () => {
  it("runs a machine job and a setup_remote_docker job green", { timeout: 400_000 }, async () => {
    const cwd = realpathSync(mkdtempSync(join(tmpdir(), "drover-machine-job-")));
    const { code, out, err } = await drover(
      ["up", "--run", join(root, "examples", "machine"), "--port", "0", "--output-port", "0"],
      cwd,
      360_000,
    );
    const context = `stdout:\n${out}\nstderr:\n${err}`;
    expect(code, context).toBe(0);
    expect(out, context).toMatch(/^machines\/on-machine #\d+: success$/m);
    expect(out, context).toMatch(/^machines\/remote-docker #\d+: success$/m);
    // The machine job ran over SSH as the machine's user, with Docker on the machine.
    expect(out).toMatch(/^\[on-machine\] Machine \S+ leased; connecting over SSH as circleci$/m);
    expect(out).toMatch(/^\[on-machine\] user=circleci host=drover-machine /m);
    expect(out).toMatch(/^\[on-machine\] Hello from an image built on a Drover machine$/m);
    expect(out).toMatch(/^\[on-machine\] Stored 1 test result\(s\)/m);
    expect(out).toMatch(/^\[on-machine\] background step done$/m);
    expect(out).toMatch(/^\[on-machine\] Stored cache machine-v1-[0-9a-f]{64}$/m);
    // The docker job reached a remote engine over TLS: build, run and compose.
    expect(out).toMatch(/^\[remote-docker\] DOCKER_HOST=tcp:\/\/remote-docker:2376$/m);
    expect(out).toMatch(/^\[remote-docker\] client \S+, engine \S+$/m);
    expect(out).toMatch(/^\[remote-docker\] Successfully tagged demo\/app:1$/m);
    expect(out).toMatch(/greeter_1 +\|.*Hello from an image built on a Drover machine/m);
    // The workspace the machine job persisted reached the docker job.
    expect(out).toMatch(
      /==> What the machine job made\n\[remote-docker\] Hello from an image built on a Drover machine/,
    );
    expect(machinesOf(join(cwd, ".drover"))).toEqual([]);
  });
  it(
    "ends a machine job as infrastructure_fail naming the cause when no machine can be had",
    {
      timeout: 300_000,
    },
    async () => {
      const cwd = realpathSync(mkdtempSync(join(tmpdir(), "drover-machine-off-")));
      const { code, out, err } = await drover(
        ["up", "--run", join(root, "examples", "machine"), "--port", "0", "--output-port", "0"],
        cwd,
        240_000,
        { DROVER_VM: "off" },
      );
      const context = `stdout:\n${out}\nstderr:\n${err}`;
      expect(code, context).toBe(1);
      expect(out, context).toMatch(/^machines\/on-machine #\d+: infrastructure_fail$/m);
      expect(out).toMatch(
        /^\[on-machine\] no machine for this job: this control plane has no vm-service: .*\(DROVER_ERR_MACHINES_UNAVAILABLE\)$/m,
      );
      expect(out).toMatch(/^machines\/remote-docker #\d+: not_run$/m);
    },
  );
});
