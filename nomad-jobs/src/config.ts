import process from "node:process";
import { z } from "zod";

/** Nomad client configuration, parsed once and passed to `NomadClient`. */
export const nomadConfigSchema = z
  .object({
    /** NOMAD_ADDR: base URL of a Nomad agent's HTTP API. */
    address: z.url({ protocol: /^https?$/ }).default("http://127.0.0.1:4646"),
    /** NOMAD_TOKEN: ACL SecretID, sent as X-Nomad-Token. */
    token: z.string().min(1).optional(),
    /** NOMAD_NAMESPACE: default namespace for calls that take one. */
    namespace: z.string().min(1).optional(),
    /** NOMAD_REGION: default region. */
    region: z.string().min(1).optional(),
    /** NOMAD_CACERT: PEM file of the CA that signed Nomad's certificate. */
    caCert: z.string().min(1).optional(),
    /** NOMAD_CLIENT_CERT / NOMAD_CLIENT_KEY: PEM files for mutual TLS. */
    clientCert: z.string().min(1).optional(),
    clientKey: z.string().min(1).optional(),
    /** NOMAD_TLS_SERVER_NAME: server name to verify instead of the address's host. */
    tlsServerName: z.string().min(1).optional(),
    /** NOMAD_SKIP_VERIFY: do not verify Nomad's certificate (loopback experiments only). */
    skipVerify: z.boolean().default(false),
    /** Connections kept per address (Nomad limits connections per client IP, default 100). */
    connections: z.number().int().positive().default(16),
    connectTimeoutMs: z.number().int().positive().default(5_000),
    /** Timeout for non-blocking calls to send response headers. */
    requestTimeoutMs: z.number().int().positive().default(30_000),
    retry: z
      .object({
        maxRetries: z.number().int().nonnegative().default(3),
        minDelayMs: z.number().int().positive().default(250),
        maxDelayMs: z.number().int().positive().default(5_000),
      })
      .prefault({}),
  })
  .superRefine((c, ctx) => {
    if ((c.clientCert === undefined) !== (c.clientKey === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: [c.clientCert === undefined ? "clientCert" : "clientKey"],
        message: "NOMAD_CLIENT_CERT and NOMAD_CLIENT_KEY must be set together",
      });
    }
    const tls = c.caCert !== undefined || c.clientCert !== undefined;
    if (tls && !c.address.startsWith("https:")) {
      ctx.addIssue({
        code: "custom",
        path: ["address"],
        message: "TLS files are configured but NOMAD_ADDR is not an https:// URL",
      });
    }
  });

export type NomadConfig = z.infer<typeof nomadConfigSchema>;
export type NomadConfigInput = z.input<typeof nomadConfigSchema>;

/** Reads Nomad's own environment variables (the same ones the nomad CLI uses). */
export function fromEnv(
  env: NodeJS.ProcessEnv = process.env,
  overrides: Partial<NomadConfigInput> = {},
): NomadConfig {
  const pick = (name: string): string | undefined => {
    const v = env[name];
    return v === undefined || v === "" ? undefined : v;
  };
  return nomadConfigSchema.parse({
    address: pick("NOMAD_ADDR"),
    token: pick("NOMAD_TOKEN"),
    namespace: pick("NOMAD_NAMESPACE"),
    region: pick("NOMAD_REGION"),
    caCert: pick("NOMAD_CACERT"),
    clientCert: pick("NOMAD_CLIENT_CERT"),
    clientKey: pick("NOMAD_CLIENT_KEY"),
    tlsServerName: pick("NOMAD_TLS_SERVER_NAME"),
    skipVerify: /^(1|t|true)$/i.test(pick("NOMAD_SKIP_VERIFY") ?? ""),
    ...overrides,
  });
}
