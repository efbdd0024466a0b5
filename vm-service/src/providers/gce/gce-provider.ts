/**
 * The `gce` provider: one Compute Engine instance per machine through `@google-cloud/compute`
 * (REST). Instances carry the machine's tags as labels (lowercased to GCE's label rules), get no
 * external address unless configured, and boot with the cloud boot script as `startup-script`
 * metadata. The machine's id is the instance name; zones are used in turn.
 */
import { InstancesClient } from "@google-cloud/compute";
import type { protos } from "@google-cloud/compute";
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

type Instance = protos.google.cloud.compute.v1.IInstance;

export const gceProviderConfigSchema = z.object({
  project: z.string().min(1),
  /** Zones machines go in, used in turn; ids are `<zone>/<name>`. */
  zones: z.array(z.string().min(1)).min(1),
  /** `projects/P/global/networks/N`; unset means the project's `default` network. */
  network: z.string().min(1).optional(),
  subnetwork: z.string().min(1).optional(),
  assignExternalIp: z.boolean().default(false),
  /** Image name -> source image (`projects/ubuntu-os-cloud/global/images/family/ubuntu-2204-lts`). */
  images: z.record(z.string(), z.string().min(1)),
  /** Resource class -> machine type; `default` for classes not listed. */
  machineTypes: z.record(z.string(), z.string().min(1)).default({
    default: "n2-standard-2",
    medium: "n2-standard-2",
    large: "n2-standard-4",
    xlarge: "n2-standard-8",
    "2xlarge": "n2-standard-16",
    "arm.medium": "t2a-standard-2",
    "arm.large": "t2a-standard-4",
  }),
  diskSizeGb: z.number().int().positive().default(100),
  /** Another Compute endpoint (tests); unset means Google's. */
  endpoint: z
    .object({
      host: z.string().min(1),
      port: z.number().int().positive(),
      protocol: z.enum(["http", "https"]),
    })
    .optional(),
});
export type GceProviderConfig = z.infer<typeof gceProviderConfigSchema>;

/** What the client authenticates with: unset means Application Default Credentials. */
export type GceAuthClient = ConstructorParameters<typeof InstancesClient>[0] extends infer O
  ? O extends { authClient?: infer A }
    ? A
    : never
  : never;

/** GCE label keys and values: lowercase letters, digits, `_` and `-`, at most 63 characters. */
export function gceLabel(s: string, key: boolean): string {
  let v = s
    .toLowerCase()
    .replace(/[^a-z0-9_-]/g, "_")
    .slice(0, 63);
  if (key && !/^[a-z]/.test(v)) v = `k${v}`.slice(0, 63);
  return v;
}

function stateOf(status: string | null | undefined): MachineState {
  switch (status) {
    case "PROVISIONING":
    case "STAGING":
      return "creating";
    case "RUNNING":
      return "running";
    case "STOPPING":
    case "SUSPENDING":
      return "deleting";
    default:
      return "failed";
  }
}

function kindOf(err: unknown): ProviderFailureKind {
  const text = `${(err as { code?: unknown }).code ?? ""} ${err instanceof Error ? err.message : ""}`;
  if (/ZONE_RESOURCE_POOL_EXHAUSTED|resourcesExhausted|STOCKOUT/i.test(text)) return "capacity";
  if (/QUOTA_EXCEEDED|quotaExceeded/i.test(text)) return "quota";
  if (/rateLimitExceeded|429|RESOURCE_EXHAUSTED/i.test(text)) return "throttled";
  if (/\b(400|403|404)\b|INVALID|invalid|PERMISSION_DENIED|notFound/.test(text)) return "config";
  return "unavailable";
}

const notFound = (err: unknown): boolean =>
  (err as { code?: unknown }).code === 404 ||
  / 404|NOT_FOUND|notFound/.test(String((err as Error).message));

export class GceProvider implements MachineProvider {
  readonly name = "gce";
  private readonly client: InstancesClient;
  private readonly config: GceProviderConfig;
  private nextZone = 0;

  constructor(
    config: z.input<typeof gceProviderConfigSchema>,
    private readonly log: Logger,
    authClient?: GceAuthClient,
  ) {
    this.config = gceProviderConfigSchema.parse(config);
    const ep = this.config.endpoint;
    this.client = new InstancesClient({
      fallback: true,
      projectId: this.config.project,
      ...(ep ? { apiEndpoint: ep.host, port: ep.port, protocol: ep.protocol } : {}),
      ...(authClient ? { authClient } : {}),
    } as ConstructorParameters<typeof InstancesClient>[0]);
  }

  private fail(what: string, err: unknown): ProviderError {
    return new ProviderError(
      this.name,
      kindOf(err),
      `${what}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }

  private split(id: string): { zone: string; name: string } | null {
    const [zone, name, ...rest] = id.split("/");
    return zone && name && !rest.length ? { zone, name } : null;
  }

  private resource(spec: MachineSpec, zone: string, name: string): Instance {
    const image =
      this.config.images[spec.image] ?? this.config.images[spec.image.split(":")[0] ?? ""];
    if (!image) {
      throw new ProviderError(
        this.name,
        "config",
        `no source image configured for image ${spec.image} (known: ${Object.keys(this.config.images).join(", ")})`,
      );
    }
    const type = this.config.machineTypes[spec.resourceClass] ?? this.config.machineTypes.default;
    return {
      name,
      machineType: `zones/${zone}/machineTypes/${type}`,
      labels: Object.fromEntries(
        Object.entries(spec.tags).map(([k, v]) => [gceLabel(k, true), gceLabel(v, false)]),
      ),
      disks: [
        {
          boot: true,
          autoDelete: true,
          initializeParams: { sourceImage: image, diskSizeGb: String(this.config.diskSizeGb) },
        },
      ],
      networkInterfaces: [
        {
          ...(this.config.network ? { network: this.config.network } : {}),
          ...(this.config.subnetwork ? { subnetwork: this.config.subnetwork } : {}),
          ...(this.config.assignExternalIp
            ? { accessConfigs: [{ name: "External NAT", type: "ONE_TO_ONE_NAT" }] }
            : {}),
        },
      ],
      metadata: {
        items: [
          { key: "startup-script", value: cloudUserData(spec.boot) },
          { key: "block-project-ssh-keys", value: "true" },
          { key: "enable-oslogin", value: "false" },
        ],
      },
      shieldedInstanceConfig: { enableSecureBoot: true },
      scheduling: { automaticRestart: false, onHostMaintenance: "TERMINATE" },
    };
  }

  async create(specs: MachineSpec[]): Promise<string[]> {
    const ids: string[] = [];
    for (const spec of specs) {
      const zone = this.config.zones[this.nextZone++ % this.config.zones.length] ?? "";
      const name = `drover-${spec.tags.machine ?? crypto.randomUUID()}`.toLowerCase().slice(0, 63);
      const instanceResource = this.resource(spec, zone, name);
      try {
        await this.client.insert({ project: this.config.project, zone, instanceResource });
      } catch (err) {
        if (ids.length) await this.destroy(ids).catch(() => {});
        throw this.fail("instances.insert", err);
      }
      ids.push(`${zone}/${name}`);
      this.log.info({ vmId: `${zone}/${name}`, image: spec.image }, "instance inserted");
    }
    return ids;
  }

  private info(zone: string, i: Instance): MachineInfo {
    const state = stateOf(i.status);
    const nic = i.networkInterfaces?.[0];
    return {
      id: `${zone}/${i.name ?? ""}`,
      state,
      tags: { ...(i.labels ?? {}) },
      internalAddress: nic?.networkIP ?? null,
      externalAddress: nic?.accessConfigs?.[0]?.natIP ?? null,
      createdAt: i.creationTimestamp ? new Date(i.creationTimestamp) : new Date(0),
      ...(state === "failed" ? { failure: i.statusMessage ?? `status ${i.status}` } : {}),
    };
  }

  async describe(ids: string[]): Promise<MachineInfo[]> {
    const out: MachineInfo[] = [];
    for (const id of ids) {
      const where = this.split(id);
      if (!where) continue;
      try {
        const [i] = await this.client.get({
          project: this.config.project,
          ...where,
          instance: where.name,
        });
        const m = this.info(where.zone, i);
        if (i.status !== "TERMINATED") out.push(m);
      } catch (err) {
        if (notFound(err)) continue;
        throw this.fail("instances.get", err);
      }
    }
    return out;
  }

  async list(tags: Record<string, string>): Promise<MachineInfo[]> {
    const filter = Object.entries(tags)
      .map(([k, v]) => `(labels.${gceLabel(k, true)} = "${gceLabel(v, false)}")`)
      .join(" AND ");
    const out: MachineInfo[] = [];
    for (const zone of this.config.zones) {
      try {
        for await (const i of this.client.listAsync({
          project: this.config.project,
          zone,
          ...(filter ? { filter } : {}),
        })) {
          if (i.status !== "TERMINATED") out.push(this.info(zone, i));
        }
      } catch (err) {
        throw this.fail("instances.list", err);
      }
    }
    return out;
  }

  async destroy(ids: string[]): Promise<void> {
    for (const id of ids) {
      const where = this.split(id);
      if (!where) continue;
      try {
        await this.client.delete({
          project: this.config.project,
          zone: where.zone,
          instance: where.name,
        });
        this.log.info({ vmId: id }, "instance deleted");
      } catch (err) {
        if (notFound(err)) continue;
        throw this.fail("instances.delete", err);
      }
    }
  }

  async health(): Promise<ProviderHealth> {
    const zone = this.config.zones[0] ?? "";
    try {
      await this.client.list({ project: this.config.project, zone, maxResults: 1 });
      return { ok: true, detail: `Compute Engine ${this.config.project}/${zone} answers` };
    } catch (err) {
      return {
        ok: false,
        detail: `Compute Engine: ${err instanceof Error ? err.message : String(err)}`,
      };
    }
  }

  async close(): Promise<void> {
    await this.client.close();
  }
}
