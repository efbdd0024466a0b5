import { spawn, spawnSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import { expect, it } from "vitest";
import { DATABASE_URL, describeDocker } from "./helpers.js";

const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));

describeDocker("node vm-service/dist/main.js", () => {
  it("fails at start naming the variable that is wrong", () => {
    const r = spawnSync(process.execPath, [main], {
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL,
        DROVER_VM_SERVICE_TOKEN: "short",
        DROVER_VM_PORT: "x",
      },
    });
    expect(r.status).toBe(1);
    const err = r.stderr.toString();
    expect(err).toContain("DROVER_VM_SERVICE_TOKEN");
    expect(err).toContain("DROVER_VM_PORT");
    const noDb = spawnSync(process.execPath, [main], { env: { PATH: process.env.PATH ?? "" } });
    expect(noDb.stderr.toString()).toContain("DATABASE_URL");
  });

  it("runs on its own and answers /healthz, then stops on SIGTERM", async () => {
    const child = spawn(process.execPath, [main], {
      env: {
        PATH: process.env.PATH ?? "",
        DATABASE_URL,
        DROVER_VM_SERVICE_TOKEN: `token-${randomUUID()}`,
        DROVER_VM_PORT: "0",
        DROVER_VM_INSTALL_ID: `test-${randomUUID()}`,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const url = await expect
      .poll(() => /"url":"(http:\/\/[^"]+)"/.exec(out)?.[1], { timeout: 30_000 })
      .toBeDefined()
      .then(() => /"url":"(http:\/\/[^"]+)"/.exec(out)?.[1] ?? "");
    const h = await fetch(`${url}/healthz`);
    expect(await h.json()).toMatchObject({ status: "ok", provider: "local" });
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });
});
