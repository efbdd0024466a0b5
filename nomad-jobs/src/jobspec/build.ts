import { createHash } from "node:crypto";
import { z } from "zod";
import { NomadError, NomadErrorCode } from "../errors.js";
import type { JobSpecConfig } from "./config.js";
import {
  MACHINE_AGENT_SHAPE,
  dockerResourceClasses,
  type ResourceShape,
} from "./resource-classes.js";
import { jobProblems, type NomadJob, type NomadTask } from "./schema.js";
import type { TaskSpecInput } from "./types.js";

/** The task group and task names inside every Drover job. */
export const AGENT_GROUP = "agent";
export const AGENT_TASK = "agent";
/** Meta key holding the Drover task id (reconciliation reads it back). */
export const META_TASK_ID = "drover_task_id";

const SEC = 1_000_000_000;

const idPart = z.string().min(1);
const count = z.number().int().nonnegative();
export const taskSpecInputSchema = z.strictObject({
  taskId: idPart,
  taskToken: z.string().min(8),
  controlPlaneUrl: z.url(),
  outputUrl: z.url(),
  project: z.strictObject({ slug: idPart, name: idPart }),
  pipeline: z.strictObject({ id: idPart, number: count }),
  workflow: z.strictObject({ id: idPart, name: idPart }),
  job: z.strictObject({ id: idPart, name: idPart, number: count, attempt: count }),
  node: z.strictObject({ index: count, total: z.number().int().positive() }),
  resourceClass: idPart,
  executorType: z.enum(["docker", "machine"]),
  sshEnabled: z.boolean(),
  jobUrl: z.url(),
});

/** Lowercase `[a-z0-9-]` with no leading, trailing or doubled dashes. */
export function sanitizeIdPart(s: string): string {
  return s
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "");
}

const MAX_ID = 100;

/**
 * `<prefix>-<project>-<pipeline#>-<job>-<attempt>-<node>`, where `<job>` is the job's name and
 * number (names repeat across workflows of one pipeline; numbers do not). Parts longer than
 * the ID allows are cut and the ID gets a hash of the task id so it stays unique.
 */
export function jobIdFor(input: TaskSpecInput, prefix = "drover"): string {
  const project = sanitizeIdPart(input.project.slug) || "project";
  const job = sanitizeIdPart(input.job.name) || "job";
  const tail = `${input.pipeline.number}-${job}-${input.job.number}-${input.job.attempt}-${input.node.index}`;
  const id = `${prefix}-${project}-${tail}`;
  if (id.length <= MAX_ID) return id;
  const hash = createHash("sha256").update(input.taskId).digest("hex").slice(0, 8);
  const short = `${prefix}-${project.slice(0, 30)}-${input.pipeline.number}-${job.slice(0, 30)}-${input.job.number}-${input.job.attempt}-${input.node.index}-${hash}`;
  return short.replace(/-+/g, "-");
}

/** A static SSH port in the configured range, stable per task. */
export function sshPortFor(taskId: string, [lo, hi]: readonly [number, number]): number {
  const n = createHash("sha256").update(taskId).digest().readUInt32BE(0);
  return lo + (n % (hi - lo + 1));
}

/** The resources a task gets from its resource class. */
export function resourcesFor(input: TaskSpecInput, config: JobSpecConfig): ResourceShape {
  if (input.executorType === "machine")
    return config.resourceClasses["machine-agent"] ?? MACHINE_AGENT_SHAPE;
  const table = { ...dockerResourceClasses(config.mhzPerCpu), ...config.resourceClasses };
  const shape = table[input.resourceClass];
  if (!shape) {
    throw new NomadError(
      NomadErrorCode.JobSpec,
      `task ${input.taskId}: unknown resource_class "${input.resourceClass}" (known: ${Object.keys(table).join(", ")})`,
    );
  }
  return shape;
}

/**
 * Builds the `PUT /v1/jobs` body for one task: a batch job with one group and one agent task.
 * The agent's environment holds only its single-use task token and the service URLs; every
 * other input ends up in Meta/UI, which are not secret. Throws `NomadError` on bad input.
 */
export function buildTaskJob(input: TaskSpecInput, config: JobSpecConfig): { Job: NomadJob } {
  const parsed = taskSpecInputSchema.safeParse(input);
  if (!parsed.success) {
    const where = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new NomadError(NomadErrorCode.JobSpec, `invalid task input: ${where}`, {
      cause: parsed.error,
    });
  }
  if (input.node.index >= input.node.total) {
    throw new NomadError(
      NomadErrorCode.JobSpec,
      `task ${input.taskId}: node.index ${input.node.index} is not below node.total ${input.node.total}`,
    );
  }
  const id = jobIdFor(input, config.idPrefix);
  const shape = resourcesFor(input, config);
  const sshPort = input.sshEnabled ? sshPortFor(input.taskId, config.sshPortRange) : undefined;

  const task: NomadTask = {
    Name: AGENT_TASK,
    Driver: config.driver,
    Config:
      config.driver === "docker"
        ? {
            image: config.agentImage,
            // The Docker socket goes to the agent of a docker job only; jobs' own containers
            // never get it, and a machine job's steps run on its VM, so its agent needs none.
            ...(input.executorType === "machine"
              ? {}
              : { volumes: [`${config.dockerSocket}:/var/run/docker.sock`] }),
            // The docker driver's `labels` is list(map(string)) (drivers/docker/config.go).
            labels: [{ "io.drover.task-id": input.taskId }],
            ...(sshPort !== undefined ? { ports: ["ssh"] } : {}),
          }
        : { command: config.rawExec!.command, args: [...config.rawExec!.args] },
    Env: {
      DROVER_TASK_TOKEN: input.taskToken,
      DROVER_URL: input.controlPlaneUrl,
      DROVER_OUTPUT_URL: input.outputUrl,
      ...(config.allowPlaintext ? { DROVER_ALLOW_PLAINTEXT: "true" } : {}),
      ...(config.agentCa ? { DROVER_TLS_CA_PEM: config.agentCa } : {}),
    },
    Resources: { CPU: shape.cpu, MemoryMB: shape.memoryMB },
    KillTimeout: config.killTimeoutMs * 1_000_000,
    KillSignal: "SIGTERM",
    LogConfig: { MaxFiles: config.logs.maxFiles, MaxFileSizeMB: config.logs.maxFileSizeMB },
  };

  const constraints: NonNullable<NomadJob["Constraints"]> = [
    { LTarget: "${attr.kernel.name}", RTarget: "linux", Operand: "=" },
  ];
  if (config.nodeClass)
    constraints.push({ LTarget: "${node.class}", RTarget: config.nodeClass, Operand: "=" });

  const job: NomadJob = {
    ID: id,
    Name: id,
    Type: "batch",
    Priority: config.priority,
    Datacenters: [...config.datacenters],
    NodePool: config.nodePool,
    ...(config.namespace ? { Namespace: config.namespace } : {}),
    ...(config.region ? { Region: config.region } : {}),
    Constraints: constraints,
    Meta: {
      [META_TASK_ID]: input.taskId,
      drover_project: input.project.slug,
      drover_pipeline_id: input.pipeline.id,
      drover_pipeline_number: String(input.pipeline.number),
      drover_workflow_id: input.workflow.id,
      drover_workflow_name: input.workflow.name,
      drover_job_id: input.job.id,
      drover_job_name: input.job.name,
      drover_job_number: String(input.job.number),
      drover_attempt: String(input.job.attempt),
      drover_node_index: String(input.node.index),
      drover_node_total: String(input.node.total),
      drover_resource_class: input.resourceClass,
      drover_executor: input.executorType,
    },
    UI: {
      Description:
        `Drover: ${input.project.name} pipeline #${input.pipeline.number}, ` +
        `${input.workflow.name} / ${input.job.name} (node ${input.node.index + 1} of ${input.node.total}, attempt ${input.job.attempt})`,
      Links: [{ Label: "Drover job", URL: input.jobUrl }],
    },
    TaskGroups: [
      {
        Name: AGENT_GROUP,
        Count: 1,
        // The agent reports the job's result itself; a failed agent is not restarted in place.
        RestartPolicy: { Attempts: 0, Interval: 24 * 3600 * SEC, Delay: 15 * SEC, Mode: "fail" },
        // Failed allocations are not rescheduled (Attempts 0); Nomad still replaces allocations
        // lost with their node, so only infrastructure losses are retried.
        ReschedulePolicy: {
          Attempts: 0,
          Interval: 0,
          Delay: 5 * SEC,
          DelayFunction: "constant",
          MaxDelay: 5 * SEC,
          Unlimited: false,
        },
        EphemeralDisk: { SizeMB: 300 },
        ...(sshPort !== undefined
          ? {
              Networks: [
                { Mode: "host", ReservedPorts: [{ Label: "ssh", Value: sshPort, To: sshPort }] },
              ],
            }
          : {}),
        Tasks: [task],
      },
    ],
  };
  assertValidJob(job);
  return { Job: job };
}

/** Throws `NomadError(JobSpecInvalid)` listing every field that does not match Nomad's structs. */
export function assertValidJob(job: unknown): asserts job is NomadJob {
  const problems = jobProblems(job);
  if (problems.length > 0) {
    throw new NomadError(
      NomadErrorCode.JobSpecInvalid,
      `job spec does not match Nomad's API: ${problems.join("; ")}`,
    );
  }
}
