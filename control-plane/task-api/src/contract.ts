/**
 * The task API: the only channel between the control plane and a build agent.
 *
 * Lifecycle of one task (one parallel node of one job attempt):
 * 1. The scheduler starts an agent with `DROVER_TASK_TOKEN` (single-use, 256-bit, expires unclaimed
 *    after 10 minutes) and `DROVER_URL` (the control plane).
 * 2. `POST /internal/v1/tasks/claim {token}` -> 200 `ClaimResponse`: the task, with decrypted
 *    secrets, and a session token. A used, expired or unknown token is 401 `DROVER_ERR_TASK_TOKEN`.
 * 3. Every later call carries `Authorization: Bearer <session>`; the session is valid only for its
 *    own task and only until the task is final.
 *    - `POST /internal/v1/tasks/{taskId}/events` `{events: TaskEvent[]}` -> 204 (idempotent per
 *      event: a step_finished for a step already finished is ignored).
 *    - `PUT /internal/v1/tasks/{taskId}/artifacts?path=<relative destination>` raw body -> 201.
 *    - `POST /internal/v1/tasks/{taskId}/tests` `{tests: TestCase[]}` -> 204.
 *    - `GET /internal/v1/tasks/{taskId}/caches?keys=<k1>&keys=<k2>` -> 200 `{key}` of the first key
 *      that prefix-matches a stored cache (most recent wins) or 404; then
 *      `GET /internal/v1/tasks/{taskId}/caches/{key}` -> the tar stream.
 *    - `PUT /internal/v1/tasks/{taskId}/caches/{key}` tar body -> 201, or 409 if the key exists
 *      (cache keys are immutable).
 *    - `PUT /internal/v1/tasks/{taskId}/workspace` tar body -> 201 (a layer of this job).
 *    - `GET /internal/v1/tasks/{taskId}/workspace` -> `{layers: [{id}]}` in apply order (the
 *      layers of the upstream jobs of this workflow), and `GET .../workspace/{layerId}` -> tar.
 * 4. The agent sends step output to the output-processor named in `task.output`, not here.
 * 5. The last event is `task_finished`; after it the session token is refused.
 */
import { z } from "zod";
import type { ExecutorPlan, StepPlan } from "@drover/config-compiler";

const env = z.record(z.string(), z.string());
const when = z.enum(["on_success", "on_fail", "always"]);
const base = { name: z.string(), when };

export const stepSchema = z.discriminatedUnion("type", [
  z.object({
    ...base,
    type: z.literal("run"),
    command: z.string(),
    shell: z.string().optional(),
    environment: env,
    background: z.boolean(),
    workingDirectory: z.string().optional(),
    noOutputTimeoutMs: z.number().int().positive(),
  }),
  z.object({ ...base, type: z.literal("checkout"), path: z.string().optional() }),
  z.object({ ...base, type: z.literal("save_cache"), key: z.string(), paths: z.array(z.string()) }),
  z.object({ ...base, type: z.literal("restore_cache"), keys: z.array(z.string()) }),
  z.object({
    ...base,
    type: z.literal("store_artifacts"),
    path: z.string(),
    destination: z.string().optional(),
  }),
  z.object({ ...base, type: z.literal("store_test_results"), path: z.string() }),
  z.object({
    ...base,
    type: z.literal("persist_to_workspace"),
    root: z.string(),
    paths: z.array(z.string()),
  }),
  z.object({ ...base, type: z.literal("attach_workspace"), at: z.string() }),
  z.object({ ...base, type: z.literal("add_ssh_keys"), fingerprints: z.array(z.string()) }),
  z.object({
    ...base,
    type: z.literal("setup_remote_docker"),
    version: z.string().optional(),
    dockerLayerCaching: z.boolean(),
  }),
]);

export const executorSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("docker"),
    images: z
      .array(
        z.object({
          image: z.string(),
          name: z.string().optional(),
          entrypoint: z.array(z.string()).optional(),
          command: z.array(z.string()).optional(),
          user: z.string().optional(),
          environment: env,
          auth: z.object({ username: z.string(), password: z.string() }).optional(),
          awsAuth: z
            .object({
              awsAccessKeyId: z.string().optional(),
              awsSecretAccessKey: z.string().optional(),
              oidcRoleArn: z.string().optional(),
            })
            .optional(),
        }),
      )
      .min(1),
  }),
  z.object({ type: z.literal("machine"), image: z.string(), dockerLayerCaching: z.boolean() }),
]);

/** What a claimed task holds: everything the agent needs, nothing it does not. */
export const taskSpecSchema = z.object({
  taskId: z.string(),
  attempt: z.number().int().positive(),
  node: z.object({ index: z.number().int().nonnegative(), total: z.number().int().positive() }),
  project: z.object({
    slug: z.string(),
    org: z.string(),
    repo: z.string(),
    gitUrl: z.string(),
  }),
  pipeline: z.object({
    id: z.string(),
    number: z.number().int(),
    branch: z.string().optional(),
    tag: z.string().optional(),
    revision: z.string(),
  }),
  workflow: z.object({ id: z.string(), name: z.string() }),
  job: z.object({
    id: z.string(),
    name: z.string(),
    /** The project-wide job number (`CIRCLE_BUILD_NUM`). */
    number: z.number().int(),
    /** `CIRCLE_BUILD_URL`. */
    url: z.string(),
  }),
  executor: executorSchema,
  steps: z.array(stepSchema),
  workingDirectory: z.string(),
  shell: z.string().optional(),
  resourceClass: z.string(),
  /** Layers the agent merges with its built-ins: step > job > built-ins > contexts > project. */
  environment: z.object({ project: env, contexts: env, job: env }),
  /** Values the agent masks in output (project and context secrets). */
  secrets: z.array(z.string()),
  ssh: z.object({
    enabled: z.boolean(),
    /** The triggering user's registered public keys (OpenSSH format). */
    authorizedKeys: z.array(z.string()),
    /** Why SSH is refused although the rerun asked for it (the project turned SSH reruns off). */
    refused: z.string().optional(),
    /** `ssh -L` to the job's own ports is allowed (the project's setting); off by default. */
    portForwarding: z.boolean().optional(),
  }),
  /** Where step output goes: the output-processor's ingest endpoint and a token for this task. */
  output: z.object({ url: z.string(), token: z.string() }),
});

export type TaskSpec = z.infer<typeof taskSpecSchema>;

export const claimRequestSchema = z.object({ token: z.string().min(1) });
export type ClaimRequest = z.infer<typeof claimRequestSchema>;

export const claimResponseSchema = z.object({ task: taskSpecSchema, session: z.string() });
export type ClaimResponse = z.infer<typeof claimResponseSchema>;

/** Final state of a step. `timedout`: no_output_timeout fired; `skipped`: its `when` said no. */
export const stepStatusSchema = z.enum(["success", "failed", "timedout", "canceled", "skipped"]);
export type StepStatus = z.infer<typeof stepStatusSchema>;

/**
 * Final state of a task. `infrastructure_fail` is Drover's fault or the platform's (image missing,
 * Docker down, agent crash), never the user's: the UI shows it apart from `failed`.
 */
export const taskResultSchema = z.enum(["success", "failed", "infrastructure_fail", "canceled"]);
export type TaskResult = z.infer<typeof taskResultSchema>;

export const taskEventSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("step_started"),
    /** Index into `task.steps`; synthetic steps (`Spin up environment`, `Enable SSH`) use -1, -2... */
    step: z.number().int(),
    name: z.string(),
    at: z.string(),
  }),
  z.object({
    type: z.literal("step_finished"),
    step: z.number().int(),
    status: stepStatusSchema,
    exitCode: z.number().int().nullable(),
    durationMs: z.number().nonnegative(),
    message: z.string().optional(),
    at: z.string(),
  }),
  z.object({
    type: z.literal("task_finished"),
    result: taskResultSchema,
    message: z.string().optional(),
    at: z.string(),
  }),
  /** Someone logged in to or out of a rerun with SSH (audited with the key's fingerprint). */
  z.object({
    type: z.literal("ssh_session"),
    event: z.enum(["login", "logout"]),
    fingerprint: z.string().max(128),
    address: z.string().max(128),
    at: z.string(),
  }),
]);
export type TaskEvent = z.infer<typeof taskEventSchema>;

export const testCaseSchema = z.object({
  classname: z.string(),
  name: z.string(),
  file: z.string().optional(),
  result: z.enum(["success", "failure", "error", "skipped"]),
  message: z.string().optional(),
  runTimeSeconds: z.number().nonnegative(),
  source: z.string(),
});
export type TestCase = z.infer<typeof testCaseSchema>;

/**
 * A machine leased for the task (`POST /internal/v1/tasks/{taskId}/machine`): the `machine`
 * executor's VM, or the remote Docker engine of `setup_remote_docker`. One per task: asking again
 * returns the same machine. Secret: the agent never logs it; the control plane releases it when the
 * task ends (the agent may release it earlier with `DELETE`).
 */
export const machineLeaseRequestSchema = z
  .object({ purpose: z.enum(["executor", "remote_docker"]) })
  .strict();
export type MachineLeaseRequest = z.infer<typeof machineLeaseRequestSchema>;

export const machineLeaseSchema = z.object({
  id: z.string(),
  /** `local`, `ec2` or `gce`; a `local` machine is a container on the agent's Docker engine. */
  provider: z.string(),
  /** The provider's id (the container id of a `local` machine). */
  providerId: z.string(),
  host: z.string(),
  sshPort: z.number().int(),
  dockerPort: z.number().int(),
  sshUser: z.string(),
  sshPrivateKey: z.string(),
  hostPublicKey: z.string(),
  hostKeyFingerprint: z.string(),
  /** Names the Docker server certificate is also valid for (an alias a job network may give it). */
  dockerNames: z.array(z.string()),
  docker: z.object({ caCert: z.string(), clientCert: z.string(), clientKey: z.string() }),
  expiresAt: z.string(),
});
export type MachineLeaseInfo = z.infer<typeof machineLeaseSchema>;

// The wire schemas and the compiler's plan types must describe the same shapes.
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;
const _stepsMatch: Same<z.infer<typeof stepSchema>, StepPlan> = true;
const _executorsMatch: Same<z.infer<typeof executorSchema>, ExecutorPlan> = true;
export const _contractChecks = [_stepsMatch, _executorsMatch] as const;
