import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { vmServiceConfigFromEnv } from "../src/config.js";
import { makeProvider } from "../src/service/run.js";
import { DATABASE_URL } from "./helpers.js";
import { motoInstalled, startMoto, type Moto } from "./moto.js";

const base = { DATABASE_URL, DROVER_VM_SERVICE_TOKEN: "0123456789abcdef" };
const ec2 = {
  region: "us-east-1",
  images: { default: "ami-12345678" },
};

describe("vm-service configuration from the environment", () => {
  it("picks the provider DROVER_VM_PROVIDER names, with its JSON settings", () => {
    const { config } = vmServiceConfigFromEnv({
      ...base,
      DROVER_VM_PROVIDER: "ec2",
      DROVER_VM_EC2: JSON.stringify(ec2),
      DROVER_VM_POOLS: JSON.stringify([
        { image: "default", resourceClass: "medium", preallocated: 2 },
      ]),
    });
    expect(config.provider).toBe("ec2");
    expect(config.ec2?.assignPublicIp).toBe(false);
    expect(config.leases.pools).toEqual([
      { image: "default", resourceClass: "medium", preallocated: 2, scheduled: [] },
    ]);
    expect(makeProvider(config, pino({ level: "silent" })).name).toBe("ec2");
    const local = vmServiceConfigFromEnv(base).config;
    expect(makeProvider(local, pino({ level: "silent" })).name).toBe("local");
  });

  it("names the variable that is missing, malformed or wrong", () => {
    const fails = (env: Record<string, string>) => () =>
      vmServiceConfigFromEnv({ ...base, ...env });
    expect(fails({ DROVER_VM_PROVIDER: "gce" })).toThrow(/^DROVER_VM_GCE: provider gce needs/);
    expect(fails({ DROVER_VM_PROVIDER: "ec2", DROVER_VM_EC2: "{region:" })).toThrow(
      /^DROVER_VM_EC2: not valid JSON/,
    );
    expect(
      fails({ DROVER_VM_PROVIDER: "ec2", DROVER_VM_EC2: JSON.stringify({ region: "x" }) }),
    ).toThrow(/DROVER_VM_EC2 \(ec2\.images\)/);
    expect(fails({ DROVER_VM_POOLS: JSON.stringify([{ image: "default" }]) })).toThrow(
      /DROVER_VM_POOLS \(leases\.pools\.0\.resourceClass\)/,
    );
    expect(fails({ DROVER_VM_PROVIDER: "azure" })).toThrow(/^DROVER_VM_PROVIDER: /);
  });
});

describe.skipIf(!motoInstalled)("node vm-service/dist/main.js with the ec2 provider", () => {
  let moto: Moto;
  beforeAll(async () => {
    moto = await startMoto();
  });
  afterAll(async () => {
    await moto?.stop();
  });

  it("reports EC2's health (moto_server) on /healthz", async () => {
    const main = fileURLToPath(new URL("../dist/main.js", import.meta.url));
    const child = spawn(process.execPath, [main], {
      env: {
        PATH: process.env.PATH ?? "",
        ...base,
        DROVER_VM_PORT: "0",
        DROVER_VM_INSTALL_ID: `test-${randomUUID()}`,
        DROVER_VM_PROVIDER: "ec2",
        DROVER_VM_EC2: JSON.stringify({
          ...ec2,
          endpoint: moto.url,
          credentials: { accessKeyId: "testing", secretAccessKey: "testing" },
        }),
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    try {
      await expect
        .poll(() => /"url":"(http:\/\/[^"]+)"/.exec(out)?.[1], { timeout: 30_000 })
        .toBeDefined();
      const url = /"url":"(http:\/\/[^"]+)"/.exec(out)?.[1] ?? "";
      const h = await fetch(`${url}/healthz`);
      expect(await h.json()).toMatchObject({ status: "ok", provider: "ec2" });
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
  });
});
