import { z } from "zod";

const resourceShape = z.strictObject({
  cpu: z.number().int().positive(),
  memoryMB: z.number().int().positive(),
});

/** How Drover's tasks become Nomad jobs; parsed once, passed to `buildTaskJob`. */
export const jobSpecConfigSchema = z
  .strictObject({
    /** DROVER_NOMAD_DATACENTERS (comma-separated). */
    datacenters: z.array(z.string().min(1)).min(1).default(["dc1"]),
    /** DROVER_NOMAD_NODE_POOL */
    nodePool: z.string().min(1).default("default"),
    /** DROVER_NOMAD_PRIORITY: 1..100 */
    priority: z.number().int().min(1).max(100).default(50),
    namespace: z.string().min(1).optional(),
    region: z.string().min(1).optional(),
    /** Nomad node class the agent must run on (`${node.class}`); null: any class. */
    nodeClass: z.string().min(1).nullable().default("linux-64bit"),
    /** `docker`: the agent image with the Docker socket; `raw_exec`: a command on the client. */
    driver: z.enum(["docker", "raw_exec"]).default("docker"),
    agentImage: z.string().min(1).default("drover/build-agent:latest"),
    dockerSocket: z.string().min(1).default("/var/run/docker.sock"),
    rawExec: z
      .strictObject({ command: z.string().min(1), args: z.array(z.string()).default([]) })
      .optional(),
    /** Nomad CPU MHz per vCPU of a resource class. */
    mhzPerCpu: z.number().int().positive().default(1000),
    /** Extra or replacement resource classes. */
    resourceClasses: z.record(z.string(), resourceShape).default({}),
    killTimeoutMs: z.number().int().positive().default(30_000),
    /** Agents may reach a plaintext control plane beyond loopback (`DROVER_ALLOW_PLAINTEXT`). */
    allowPlaintext: z.boolean().default(false),
    /** PEM of the CA agents verify the control plane and output-processor against (public, not a secret). */
    agentCa: z.string().includes("-----BEGIN ").optional(),
    logs: z
      .strictObject({
        maxFiles: z.number().int().positive().default(5),
        maxFileSizeMB: z.number().int().positive().default(10),
      })
      .prefault({}),
    /** Static SSH ports for reruns with SSH (the hardening guide opens 64535-65535). */
    sshPortRange: z
      .tuple([z.number().int().min(1024).max(65535), z.number().int().min(1024).max(65535)])
      .default([64535, 65535]),
    /** Job ID prefix; reconciliation looks for jobs with it. */
    idPrefix: z
      .string()
      .regex(/^[a-z0-9][a-z0-9-]*$/)
      .default("drover"),
  })
  .superRefine((c, ctx) => {
    if (c.driver === "raw_exec" && !c.rawExec) {
      ctx.addIssue({
        code: "custom",
        path: ["rawExec"],
        message: "driver raw_exec needs rawExec.command",
      });
    }
    if (c.sshPortRange[0] > c.sshPortRange[1]) {
      ctx.addIssue({
        code: "custom",
        path: ["sshPortRange"],
        message: "range start is above its end",
      });
    }
  });

export type JobSpecConfig = z.infer<typeof jobSpecConfigSchema>;
export type JobSpecConfigInput = z.input<typeof jobSpecConfigSchema>;

/** Job spec configuration from `DROVER_NOMAD_*` variables (and NOMAD_NAMESPACE/NOMAD_REGION). */
export function jobSpecConfigFromEnv(env: NodeJS.ProcessEnv): JobSpecConfig {
  const v = (name: string): string | undefined => (env[name] === "" ? undefined : env[name]);
  const list = (s: string | undefined): string[] | undefined =>
    s
      ?.split(",")
      .map((x) => x.trim())
      .filter(Boolean);
  const num = (s: string | undefined): number | undefined =>
    s === undefined ? undefined : Number(s);
  const nodeClass = v("DROVER_NOMAD_NODE_CLASS");
  const rawCommand = v("DROVER_NOMAD_RAW_EXEC_COMMAND");
  return jobSpecConfigSchema.parse({
    datacenters: list(v("DROVER_NOMAD_DATACENTERS")),
    nodePool: v("DROVER_NOMAD_NODE_POOL"),
    priority: num(v("DROVER_NOMAD_PRIORITY")),
    namespace: v("NOMAD_NAMESPACE"),
    region: v("NOMAD_REGION"),
    // "any" lifts the node class constraint.
    nodeClass: nodeClass === "any" ? null : nodeClass,
    driver: v("DROVER_NOMAD_DRIVER"),
    agentImage: v("DROVER_AGENT_IMAGE"),
    rawExec: rawCommand
      ? { command: rawCommand, args: list(v("DROVER_NOMAD_RAW_EXEC_ARGS")) ?? [] }
      : undefined,
    mhzPerCpu: num(v("DROVER_NOMAD_MHZ_PER_CPU")),
  });
}
