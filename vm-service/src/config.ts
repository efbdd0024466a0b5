/** vm-service's configuration, parsed once from the environment by `main.ts`. */
import { serverTlsOf, tlsEnvSchema } from "@drover/tls";
import { z } from "zod";
import { leaseConfigSchema } from "./service/leases.js";
import { localProviderConfigSchema } from "./providers/local/local-provider.js";
import { ec2ProviderConfigSchema } from "./providers/ec2/ec2-provider.js";
import { gceProviderConfigSchema } from "./providers/gce/gce-provider.js";

export const vmServiceConfigSchema = z
  .object({
    /** Address and port the API listens on (3000, as CircleCI Server's machine provisioner). */
    host: z.string().min(1).default("127.0.0.1"),
    port: z.number().int().min(0).max(65535).default(3000),
    /** Serve HTTPS with this PEM certificate and key (`DROVER_TLS_CERT`/`DROVER_TLS_KEY`). */
    tls: z.object({ cert: z.string().min(1), key: z.string().min(1) }).optional(),
    /** Listen in plaintext beyond loopback (`DROVER_ALLOW_PLAINTEXT=true`). */
    allowPlaintext: z.boolean().default(false),
    /** The token the control plane and agents present. */
    serviceToken: z.string().min(16),
    /** Which provider makes machines: containers on this host's engine, EC2 or GCE. */
    provider: z.enum(["local", "ec2", "gce"]).default("local"),
    local: localProviderConfigSchema.default(localProviderConfigSchema.parse({})),
    /** Required when `provider` is `ec2`. */
    ec2: ec2ProviderConfigSchema.optional(),
    /** Required when `provider` is `gce`. */
    gce: gceProviderConfigSchema.optional(),
    leases: leaseConfigSchema.default(leaseConfigSchema.parse({})),
    /** How often the reaper runs, ms. */
    reapIntervalMs: z.number().int().positive().default(60_000),
  })
  .superRefine((c, ctx) => {
    if (c.provider !== "local" && !c[c.provider]) {
      ctx.addIssue({
        code: "custom",
        path: [c.provider],
        message: `provider ${c.provider} needs its settings (images, region or zones ...)`,
      });
    }
  });
export type VmServiceConfig = z.infer<typeof vmServiceConfigSchema>;
export type VmServiceConfigInput = z.input<typeof vmServiceConfigSchema>;

const int = (v: string | undefined): number | undefined =>
  v === undefined ? undefined : Number(v);

/** A JSON-valued variable; a parse failure names the variable. */
function json(name: string, v: string | undefined): unknown {
  if (v === undefined || v === "") return undefined;
  try {
    return JSON.parse(v) as unknown;
  } catch (err) {
    throw new Error(
      `${name}: not valid JSON (${err instanceof Error ? err.message : String(err)})`,
      { cause: err },
    );
  }
}

/** Reads vm-service's variables; a bad one fails naming the variable. */
export function vmServiceConfigFromEnv(env: NodeJS.ProcessEnv): {
  config: VmServiceConfig;
  databaseUrl: string;
} {
  const databaseUrl = env.DATABASE_URL;
  if (!databaseUrl) {
    throw new Error("DATABASE_URL: vm-service on its own needs the control plane's PostgreSQL");
  }
  const raw = {
    host: env.DROVER_VM_HOST,
    port: int(env.DROVER_VM_PORT),
    tls: serverTlsOf(env),
    allowPlaintext: tlsEnvSchema.shape.DROVER_ALLOW_PLAINTEXT.parse(
      env.DROVER_ALLOW_PLAINTEXT || undefined,
    ),
    serviceToken: env.DROVER_VM_SERVICE_TOKEN,
    provider: env.DROVER_VM_PROVIDER,
    local: { image: env.DROVER_VM_LOCAL_IMAGE, network: env.DROVER_VM_LOCAL_NETWORK },
    ec2: json("DROVER_VM_EC2", env.DROVER_VM_EC2),
    gce: json("DROVER_VM_GCE", env.DROVER_VM_GCE),
    leases: {
      installId: env.DROVER_VM_INSTALL_ID,
      startTimeoutMs: int(env.DROVER_VM_START_TIMEOUT_MS),
      pools: json("DROVER_VM_POOLS", env.DROVER_VM_POOLS),
    },
    reapIntervalMs: int(env.DROVER_VM_REAP_INTERVAL_MS),
  };
  const names: Record<string, string> = {
    host: "DROVER_VM_HOST",
    port: "DROVER_VM_PORT",
    serviceToken: "DROVER_VM_SERVICE_TOKEN",
    provider: "DROVER_VM_PROVIDER",
    "local.image": "DROVER_VM_LOCAL_IMAGE",
    "local.network": "DROVER_VM_LOCAL_NETWORK",
    ec2: "DROVER_VM_EC2",
    gce: "DROVER_VM_GCE",
    "leases.pools": "DROVER_VM_POOLS",
    "leases.installId": "DROVER_VM_INSTALL_ID",
    "leases.startTimeoutMs": "DROVER_VM_START_TIMEOUT_MS",
    reapIntervalMs: "DROVER_VM_REAP_INTERVAL_MS",
  };
  const strip = (o: unknown): unknown =>
    o && typeof o === "object" && !Array.isArray(o)
      ? Object.fromEntries(
          Object.entries(o)
            .filter(([, v]) => v !== undefined)
            .map(([k, v]) => [k, strip(v)]),
        )
      : o;
  const r = vmServiceConfigSchema.safeParse(strip(raw));
  if (!r.success) {
    throw new Error(
      r.error.issues
        .map((i) => {
          const at = i.path.join(".");
          if (names[at]) return `${names[at]}: ${i.message}`;
          const name = names[i.path.slice(0, 2).join(".")] ?? names[String(i.path[0])];
          return `${name ? `${name} (${at})` : at}: ${i.message}`;
        })
        .join("; "),
    );
  }
  return { config: r.data, databaseUrl };
}
