/**
 * Nomad's job API structs (hashicorp/nomad `api/jobs.go`, `api/tasks.go`, `api/resources.go`,
 * `api/constraint.go`; documented in api-docs/json-jobs), as strict zod objects: an unknown or
 * misspelled key fails validation. Durations are integer nanoseconds. Fields Nomad returns as
 * `null` are accepted as null. Structs Drover never emits (services, templates, artifacts,
 * vault, volumes...) are typed as opaque objects; everything Drover builds is strict. A task's
 * `Config` is checked against its driver's spec (`../driver-config/`), as a Nomad client would.
 */
import { z } from "zod";
import { driverConfigProblems, problemText } from "../driver-config/index.js";

const ns = z.number().int().nonnegative();
const opt = <T extends z.ZodType>(t: T) => t.nullish();
const strMap = z.record(z.string(), z.string());
/** A struct Drover never writes: accepted as an object, not inspected. */
const opaque = z.record(z.string(), z.unknown());

export const constraintSchema = z.strictObject({
  LTarget: opt(z.string()),
  RTarget: opt(z.string()),
  Operand: z.enum([
    "=",
    "==",
    "is",
    "!=",
    "not",
    ">",
    ">=",
    "<",
    "<=",
    "regexp",
    "set_contains",
    "set_contains_all",
    "set_contains_any",
    "distinct_hosts",
    "distinct_property",
    "version",
    "semver",
    "is_set",
    "is_not_set",
  ]),
});

export const affinitySchema = z.strictObject({
  LTarget: opt(z.string()),
  RTarget: opt(z.string()),
  Operand: opt(z.string()),
  Weight: opt(z.number().int().min(-100).max(100)),
});

export const portSchema = z.strictObject({
  Label: z.string().min(1),
  Value: opt(z.number().int().min(0).max(65535)),
  To: opt(z.number().int().min(-1).max(65535)),
  HostNetwork: opt(z.string()),
  IgnoreCollision: opt(z.boolean()),
});

export const networkResourceSchema = z.strictObject({
  Mode: opt(z.string()),
  Device: opt(z.string()),
  CIDR: opt(z.string()),
  IP: opt(z.string()),
  DNS: opt(opaque),
  ReservedPorts: opt(z.array(portSchema)),
  DynamicPorts: opt(z.array(portSchema)),
  Hostname: opt(z.string()),
  MBits: opt(z.number().int().nonnegative()),
  CNI: opt(opaque),
});

export const resourcesSchema = z.strictObject({
  CPU: opt(z.number().int().positive()),
  Cores: opt(z.number().int().nonnegative()),
  MemoryMB: opt(z.number().int().positive()),
  MemoryMaxMB: opt(z.number().int().nonnegative()),
  DiskMB: opt(z.number().int().nonnegative()),
  Networks: opt(z.array(networkResourceSchema)),
  Devices: opt(z.array(opaque)),
  IOPS: opt(z.number().int().nonnegative()),
  NUMA: opt(opaque),
  SecretsMB: opt(z.number().int().nonnegative()),
});

export const restartPolicySchema = z.strictObject({
  Interval: opt(ns),
  Attempts: opt(z.number().int().nonnegative()),
  Delay: opt(ns),
  Mode: opt(z.enum(["delay", "fail"])),
  RenderTemplates: opt(z.boolean()),
});

export const reschedulePolicySchema = z.strictObject({
  Attempts: opt(z.number().int().nonnegative()),
  Interval: opt(ns),
  Delay: opt(ns),
  DelayFunction: opt(z.enum(["constant", "exponential", "fibonacci"])),
  MaxDelay: opt(ns),
  Unlimited: opt(z.boolean()),
});

export const logConfigSchema = z.strictObject({
  MaxFiles: opt(z.number().int().positive()),
  MaxFileSizeMB: opt(z.number().int().positive()),
  Disabled: opt(z.boolean()),
  Enabled: opt(z.boolean()),
});

export const ephemeralDiskSchema = z.strictObject({
  Sticky: opt(z.boolean()),
  Migrate: opt(z.boolean()),
  SizeMB: opt(z.number().int().nonnegative()),
});

export const updateStrategySchema = z.strictObject({
  Stagger: opt(ns),
  MaxParallel: opt(z.number().int().nonnegative()),
  HealthCheck: opt(z.enum(["checks", "task_states", "manual"])),
  MinHealthyTime: opt(ns),
  HealthyDeadline: opt(ns),
  ProgressDeadline: opt(ns),
  Canary: opt(z.number().int().nonnegative()),
  AutoRevert: opt(z.boolean()),
  AutoPromote: opt(z.boolean()),
});

export const migrateStrategySchema = z.strictObject({
  MaxParallel: opt(z.number().int().nonnegative()),
  HealthCheck: opt(z.enum(["checks", "task_states"])),
  MinHealthyTime: opt(ns),
  HealthyDeadline: opt(ns),
});

export const taskLifecycleSchema = z.strictObject({
  Hook: z.enum(["prestart", "poststart", "poststop"]),
  Sidecar: opt(z.boolean()),
});

export const taskSchema = z
  .strictObject({
    Name: z.string().min(1),
    Driver: z.string().min(1),
    User: opt(z.string()),
    Lifecycle: opt(taskLifecycleSchema),
    Config: opt(z.record(z.string(), z.unknown())),
    Constraints: opt(z.array(constraintSchema)),
    Affinities: opt(z.array(affinitySchema)),
    Env: opt(strMap),
    Services: opt(z.array(opaque)),
    Resources: opt(resourcesSchema),
    RestartPolicy: opt(restartPolicySchema),
    Meta: opt(strMap),
    KillTimeout: opt(ns),
    LogConfig: opt(logConfigSchema),
    Artifacts: opt(z.array(opaque)),
    Vault: opt(opaque),
    Consul: opt(opaque),
    Templates: opt(z.array(opaque)),
    DispatchPayload: opt(z.strictObject({ File: z.string() })),
    VolumeMounts: opt(z.array(opaque)),
    CSIPluginConfig: opt(opaque),
    Leader: opt(z.boolean()),
    ShutdownDelay: opt(ns),
    KillSignal: opt(z.string()),
    Kind: opt(z.string()),
    ScalingPolicies: opt(z.array(opaque)),
    Identity: opt(opaque),
    Identities: opt(z.array(opaque)),
    Actions: opt(z.array(opaque)),
    Schedule: opt(opaque),
  })
  .superRefine((task, ctx) => {
    // The driver's own spec, as a Nomad client decodes the config when the task starts.
    for (const p of driverConfigProblems(task.Driver, task.Config) ?? []) {
      ctx.addIssue({ code: "custom", path: ["Config", ...p.path], message: problemText(p) });
    }
  });

export const taskGroupSchema = z.strictObject({
  Name: z.string().min(1),
  Count: opt(z.number().int().nonnegative()),
  Constraints: opt(z.array(constraintSchema)),
  Affinities: opt(z.array(affinitySchema)),
  Tasks: z.array(taskSchema).min(1),
  Spreads: opt(z.array(opaque)),
  Volumes: opt(z.record(z.string(), opaque)),
  RestartPolicy: opt(restartPolicySchema),
  Disconnect: opt(opaque),
  ReschedulePolicy: opt(reschedulePolicySchema),
  EphemeralDisk: opt(ephemeralDiskSchema),
  Update: opt(updateStrategySchema),
  Migrate: opt(migrateStrategySchema),
  Networks: opt(z.array(networkResourceSchema)),
  Meta: opt(strMap),
  Services: opt(z.array(opaque)),
  ShutdownDelay: opt(ns),
  StopAfterClientDisconnect: opt(ns),
  MaxClientDisconnect: opt(ns),
  PreventRescheduleOnLost: opt(z.boolean()),
  Scaling: opt(opaque),
  Consul: opt(opaque),
});

export const jobUiSchema = z.strictObject({
  Description: opt(z.string()),
  Links: opt(z.array(z.strictObject({ Label: z.string().min(1), URL: z.string().min(1) }))),
});

export const jobSchema = z.strictObject({
  Region: opt(z.string()),
  Namespace: opt(z.string()),
  ID: z.string().min(1),
  Name: opt(z.string()),
  Type: opt(z.enum(["service", "batch", "system", "sysbatch"])),
  Priority: opt(z.number().int().min(1).max(100)),
  AllAtOnce: opt(z.boolean()),
  Datacenters: opt(z.array(z.string().min(1))),
  NodePool: opt(z.string()),
  Constraints: opt(z.array(constraintSchema)),
  Affinities: opt(z.array(affinitySchema)),
  TaskGroups: opt(z.array(taskGroupSchema)),
  Update: opt(updateStrategySchema),
  Multiregion: opt(opaque),
  Spreads: opt(z.array(opaque)),
  Periodic: opt(opaque),
  ParameterizedJob: opt(
    z.strictObject({
      Payload: opt(z.enum(["optional", "required", "forbidden"])),
      MetaRequired: opt(z.array(z.string())),
      MetaOptional: opt(z.array(z.string())),
    }),
  ),
  Reschedule: opt(reschedulePolicySchema),
  Migrate: opt(migrateStrategySchema),
  Meta: opt(strMap),
  ConsulToken: opt(z.string()),
  VaultToken: opt(z.string()),
  UI: opt(jobUiSchema),
  // Set by the server; present when a job is read back.
  Stop: opt(z.boolean()),
  ParentID: opt(z.string()),
  Dispatched: opt(z.boolean()),
  DispatchIdempotencyToken: opt(z.string()),
  Payload: opt(z.string()),
  ConsulNamespace: opt(z.string()),
  VaultNamespace: opt(z.string()),
  NomadTokenID: opt(z.string()),
  Status: opt(z.string()),
  StatusDescription: opt(z.string()),
  Stable: opt(z.boolean()),
  Version: opt(z.number().int().nonnegative()),
  SubmitTime: opt(z.number().int()),
  CreateIndex: opt(z.number().int().nonnegative()),
  ModifyIndex: opt(z.number().int().nonnegative()),
  JobModifyIndex: opt(z.number().int().nonnegative()),
});

/** The body of `PUT /v1/jobs`. */
export const jobRegisterRequestSchema = z.strictObject({
  Job: jobSchema,
  EnforceIndex: opt(z.boolean()),
  JobModifyIndex: opt(z.number().int().nonnegative()),
  EvalPriority: opt(z.number().int().min(0).max(100)),
  PolicyOverride: opt(z.boolean()),
  PreserveCounts: opt(z.boolean()),
  Submission: opt(opaque),
});

export type NomadJob = z.infer<typeof jobSchema>;
export type NomadTaskGroup = z.infer<typeof taskGroupSchema>;
export type NomadTask = z.infer<typeof taskSchema>;
export type NomadJobRegisterRequest = z.infer<typeof jobRegisterRequestSchema>;

/** Validates a job; returns readable `path: message` lines (empty when valid). */
export function jobProblems(job: unknown): string[] {
  const r = jobSchema.safeParse(job);
  if (r.success) return [];
  return r.error.issues.map((i) => `Job.${i.path.map(String).join(".")}: ${i.message}`);
}
