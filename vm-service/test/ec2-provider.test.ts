import {
  DescribeImagesCommand,
  DescribeInstanceAttributeCommand,
  DescribeInstancesCommand,
  EC2Client,
} from "@aws-sdk/client-ec2";
import { randomUUID } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Ec2Provider, ProviderError, generateSshKeyPair } from "@drover/vm-service";
import { motoInstalled, startMoto, type Moto } from "./moto.js";
import { providerConformance, specFor } from "./provider-conformance.js";

const logger = pino({ level: "silent" });
const credentials = { accessKeyId: "testing", secretAccessKey: "testing" };
const describeMoto = motoInstalled ? describe : describe.skip;

describeMoto("ec2 provider on moto_server", () => {
  let moto: Moto;
  let ami = "";
  let ec2: EC2Client;
  const config = () => ({
    region: "us-east-1",
    endpoint: moto.url,
    credentials,
    images: { default: ami, "ubuntu-2204": ami },
  });

  beforeAll(async () => {
    moto = await startMoto();
    ec2 = new EC2Client({ region: "us-east-1", endpoint: moto.url, credentials });
    const images = await ec2.send(new DescribeImagesCommand({ Owners: ["amazon"] }));
    ami = images.Images?.[0]?.ImageId ?? "";
    expect(ami).toMatch(/^ami-/);
  });
  afterAll(async () => {
    ec2?.destroy();
    await moto?.stop();
  });

  providerConformance({
    name: "ec2 (moto)",
    make: async () => new Ec2Provider(config(), logger),
  });

  it("starts instances with IMDSv2 only, no public address, the tags and the boot script", async () => {
    const provider = new Ec2Provider(config(), logger);
    const run = `test-${randomUUID()}`;
    const spec = specFor({ run, task: "t1" });
    const [id = ""] = await provider.create([{ ...spec, image: "ubuntu-2204:current" }]);
    const out = await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }));
    const instance = out.Reservations?.[0]?.Instances?.[0];
    expect(instance?.MetadataOptions?.HttpTokens).toBe("required");
    expect(instance?.PublicIpAddress).toBeUndefined();
    expect(instance?.ImageId).toBe(ami);
    expect(instance?.InstanceType).toBe("m5.large");
    expect(Object.fromEntries((instance?.Tags ?? []).map((t) => [t.Key, t.Value]))).toMatchObject({
      run,
      task: "t1",
    });
    const attr = await ec2.send(
      new DescribeInstanceAttributeCommand({ InstanceId: id, Attribute: "userData" }),
    );
    const script = Buffer.from(attr.UserData?.Value ?? "", "base64").toString();
    expect(script.startsWith("#!/bin/bash")).toBe(true);
    expect(script).toContain(spec.boot.authorizedKey);
    expect(script).toContain("--tlsverify");
    await provider.destroy([id]);
    await provider.close();
  });

  it("fails clearly for an image it has no AMI for, and leaves nothing behind", async () => {
    const provider = new Ec2Provider(config(), logger);
    const key = generateSshKeyPair("x");
    const err = await provider
      .create([
        {
          image: "windows-server-2022",
          resourceClass: "medium",
          tags: { run: "nope" },
          boot: { sshUser: "circleci", authorizedKey: key.publicKey, hostKey: key.privateKey },
        },
      ])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ProviderError);
    expect(err).toMatchObject({ kind: "config", code: "DROVER_ERR_VM_PROVIDER" });
    expect((err as Error).message).toContain("windows-server-2022");
    expect(await provider.list({ run: "nope" })).toEqual([]);
  });

  it("reports an unreachable EC2 endpoint as unhealthy", async () => {
    const provider = new Ec2Provider({ ...config(), endpoint: "http://127.0.0.1:9" }, logger);
    const h = await provider.health();
    expect(h.ok).toBe(false);
    await provider.close();
  });
});

// The same suite against real EC2 when it is configured: DROVER_TEST_EC2 holds the provider's
// settings as JSON (region, images, subnetIds ...), credentials come from the SDK's chain
// (AWS_ACCESS_KEY_ID, a profile, a role). Not registered otherwise: no cloud is reachable here.
const realEc2 = process.env.DROVER_TEST_EC2;
if (realEc2) {
  providerConformance({
    name: "ec2 (real)",
    make: async () => new Ec2Provider(JSON.parse(realEc2) as never, logger),
  });
}
