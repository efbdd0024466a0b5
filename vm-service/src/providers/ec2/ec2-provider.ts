/**
 * The `ec2` provider: one instance per machine through the AWS SDK. Instances carry the machine's
 * tags, take IMDSv2 only, get no public address unless configured, and boot with the cloud user
 * data (`provider/user-data.ts`). Image names and resource classes map to AMIs and instance types
 * as CircleCI Server's machine provisioner maps them.
 */
import {
  DescribeInstancesCommand,
  DescribeRegionsCommand,
  EC2Client,
  RunInstancesCommand,
  TerminateInstancesCommand,
  type Instance,
  type RunInstancesCommandInput,
} from "@aws-sdk/client-ec2";
import type { Logger } from "pino";
import { z } from "zod";
import { ProviderError, type ProviderFailureKind } from "../../errors.js";
import type {
  MachineInfo,
  MachineProvider,
  MachineSpec,
  MachineState,
  ProviderHealth,
} from "../../provider/types.js";
import { cloudUserData } from "../../provider/user-data.js";

export const ec2ProviderConfigSchema = z.object({
  region: z.string().min(1),
  /** An EC2-compatible endpoint (tests: moto); unset means AWS. */
  endpoint: z.string().url().optional(),
  /** Static credentials; unset means the SDK's chain (env, profile, instance role). */
  credentials: z
    .object({ accessKeyId: z.string().min(1), secretAccessKey: z.string().min(1) })
    .optional(),
  /** Subnets machines go in, used in turn. */
  subnetIds: z.array(z.string().min(1)).default([]),
  securityGroupIds: z.array(z.string().min(1)).default([]),
  /** A public address for each machine: off by default (agents reach machines inside the VPC). */
  assignPublicIp: z.boolean().default(false),
  /** Image name (`ubuntu-2204:current`, `default`, `docker-default` ...) -> AMI id. */
  images: z.record(z.string(), z.string().min(1)),
  /** Resource class -> instance type; `default` for classes not listed. */
  instanceTypes: z.record(z.string(), z.string().min(1)).default({
    default: "m5.large",
    medium: "m5.large",
    large: "m5.xlarge",
    xlarge: "m5.2xlarge",
    "2xlarge": "m5.4xlarge",
    "arm.medium": "m6g.large",
    "arm.large": "m6g.xlarge",
  }),
  /** Instance profile (ARN or name) machines run as; unset means none. */
  instanceProfile: z.string().min(1).optional(),
});
export type Ec2ProviderConfig = z.infer<typeof ec2ProviderConfigSchema>;

function stateOf(name: string | undefined): MachineState {
  switch (name) {
    case "pending":
      return "creating";
    case "running":
      return "running";
    case "shutting-down":
    case "stopping":
      return "deleting";
    case "terminated":
      return "deleted";
    default:
      return "failed";
  }
}

/** Which EC2 errors a retry may cure. */
function kindOf(code: string): ProviderFailureKind {
  if (/InsufficientInstanceCapacity|InsufficientCapacity|Unsupported/.test(code)) return "capacity";
  if (/LimitExceeded|InstanceLimit|VcpuLimit/.test(code) && code !== "RequestLimitExceeded") {
    return "quota";
  }
  if (/RequestLimitExceeded|Throttling|ThrottlingException/.test(code)) return "throttled";
  if (/^Invalid|MissingParameter|UnauthorizedOperation|AuthFailure/.test(code)) return "config";
  return "unavailable";
}

export class Ec2Provider implements MachineProvider {
  readonly name = "ec2";
  private readonly client: EC2Client;
  private readonly config: Ec2ProviderConfig;
  private nextSubnet = 0;

  constructor(
    config: z.input<typeof ec2ProviderConfigSchema>,
    private readonly log: Logger,
  ) {
    this.config = ec2ProviderConfigSchema.parse(config);
    this.client = new EC2Client({
      region: this.config.region,
      maxAttempts: 5,
      ...(this.config.endpoint ? { endpoint: this.config.endpoint } : {}),
      ...(this.config.credentials ? { credentials: this.config.credentials } : {}),
    });
  }

  private fail(what: string, err: unknown): ProviderError {
    const code = (err as { name?: string; Code?: string }).Code ?? (err as Error).name ?? "Error";
    const message = err instanceof Error ? err.message : String(err);
    return new ProviderError(this.name, kindOf(code), `${what}: ${code}: ${message}`, {
      cause: err,
    });
  }

  private runInput(spec: MachineSpec): RunInstancesCommandInput {
    const ami =
      this.config.images[spec.image] ?? this.config.images[spec.image.split(":")[0] ?? ""];
    if (!ami) {
      throw new ProviderError(
        this.name,
        "config",
        `no AMI configured for image ${spec.image} (known: ${Object.keys(this.config.images).join(", ")})`,
      );
    }
    const type =
      this.config.instanceTypes[spec.resourceClass] ??
      this.config.instanceTypes.default ??
      "m5.large";
    const subnets = this.config.subnetIds;
    const subnet = subnets.length ? subnets[this.nextSubnet++ % subnets.length] : undefined;
    const tags = Object.entries(spec.tags).map(([Key, Value]) => ({ Key, Value }));
    return {
      ImageId: ami,
      InstanceType: type as RunInstancesCommandInput["InstanceType"],
      MinCount: 1,
      MaxCount: 1,
      UserData: Buffer.from(cloudUserData(spec.boot)).toString("base64"),
      MetadataOptions: {
        HttpTokens: "required",
        HttpEndpoint: "enabled",
        HttpPutResponseHopLimit: 1,
      },
      InstanceInitiatedShutdownBehavior: "terminate",
      TagSpecifications: [
        { ResourceType: "instance", Tags: tags },
        { ResourceType: "volume", Tags: tags },
      ],
      NetworkInterfaces: [
        {
          DeviceIndex: 0,
          AssociatePublicIpAddress: this.config.assignPublicIp,
          DeleteOnTermination: true,
          ...(subnet ? { SubnetId: subnet } : {}),
          ...(this.config.securityGroupIds.length ? { Groups: this.config.securityGroupIds } : {}),
        },
      ],
      ...(this.config.instanceProfile
        ? {
            IamInstanceProfile: this.config.instanceProfile.startsWith("arn:")
              ? { Arn: this.config.instanceProfile }
              : { Name: this.config.instanceProfile },
          }
        : {}),
    };
  }

  async create(specs: MachineSpec[]): Promise<string[]> {
    const ids: string[] = [];
    for (const spec of specs) {
      const input = this.runInput(spec);
      try {
        const out = await this.client.send(new RunInstancesCommand(input));
        const id = out.Instances?.[0]?.InstanceId;
        if (!id) throw new Error("RunInstances returned no instance");
        ids.push(id);
        this.log.info(
          { vmId: id, image: spec.image, type: input.InstanceType },
          "instance started",
        );
      } catch (err) {
        // Machines made for earlier specs of this call are not left behind.
        if (ids.length) await this.destroy(ids).catch(() => {});
        throw this.fail("RunInstances", err);
      }
    }
    return ids;
  }

  private info(i: Instance): MachineInfo {
    const state = stateOf(i.State?.Name);
    return {
      id: i.InstanceId ?? "",
      state,
      tags: Object.fromEntries((i.Tags ?? []).map((t) => [t.Key ?? "", t.Value ?? ""])),
      internalAddress: i.PrivateIpAddress ?? null,
      externalAddress: i.PublicIpAddress ?? null,
      createdAt: i.LaunchTime ?? new Date(0),
      ...(state === "failed"
        ? { failure: i.StateReason?.Message ?? `state ${i.State?.Name}` }
        : {}),
    };
  }

  private async describeWith(
    filters: { Name: string; Values: string[] }[],
  ): Promise<MachineInfo[]> {
    const out: MachineInfo[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new DescribeInstancesCommand({ Filters: filters, NextToken: token }),
        );
        for (const r of page.Reservations ?? [])
          for (const i of r.Instances ?? []) out.push(this.info(i));
        token = page.NextToken;
      } while (token);
    } catch (err) {
      throw this.fail("DescribeInstances", err);
    }
    return out.filter((m) => m.state !== "deleted");
  }

  async describe(ids: string[]): Promise<MachineInfo[]> {
    if (!ids.length) return [];
    // A filter, not InstanceIds: unknown ids are left out instead of failing the call.
    const found = await this.describeWith([{ Name: "instance-id", Values: ids }]);
    const byId = new Map(found.map((m) => [m.id, m]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  list(tags: Record<string, string>): Promise<MachineInfo[]> {
    return this.describeWith(
      Object.entries(tags).map(([k, v]) => ({ Name: `tag:${k}`, Values: [v] })),
    );
  }

  async destroy(ids: string[]): Promise<void> {
    const live = (await this.describe(ids)).map((m) => m.id);
    if (!live.length) return;
    try {
      await this.client.send(new TerminateInstancesCommand({ InstanceIds: live }));
    } catch (err) {
      if ((err as Error).name === "InvalidInstanceID.NotFound") return;
      throw this.fail("TerminateInstances", err);
    }
    this.log.info({ ids: live }, "instances terminated");
  }

  async health(): Promise<ProviderHealth> {
    try {
      await this.client.send(new DescribeRegionsCommand({ RegionNames: [this.config.region] }));
      return { ok: true, detail: `EC2 ${this.config.region} answers` };
    } catch (err) {
      return {
        ok: false,
        detail: `EC2 ${this.config.region}: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
