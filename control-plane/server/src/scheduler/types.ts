import { DroverError } from "../errors/index.js";

/**
 * The scheduler backend: where tasks run. Implementations: `local` (an agent process on this
 * machine), `nomad` (one Nomad batch job per task) and `queue` (a database queue that separate
 * runners take tasks from, each running agents like `local`).
 *
 * Lifecycle of a task, as the workflow engine drives it:
 *   submit -> (status events: queued -> running -> finished | lost) -> cleanup
 *   cancel may come at any point after submit.
 *
 * Rules every implementation keeps:
 * - `submit` is idempotent on `plan.taskId`: submitting the same task twice runs it once.
 * - `cancel` and `cleanup` are idempotent and safe for unknown or already-finished tasks.
 * - `watch` delivers every status change at least once, in order per task; the engine dedupes.
 *   A backend that restarts re-emits the current status of every task it knows (`reconcile`).
 * - The backend never sees a secret: a task carries only its single-use task token.
 * - Errors reaching the backend's infrastructure (Nomad down, Docker down) surface as
 *   `SchedulerUnavailableError`; the engine keeps the task queued and resubmits later.
 */

/** What the engine hands the backend for one parallel node of one job attempt. */
export interface TaskPlan {
  taskId: string;
  /** Single-use, short-lived token the agent exchanges for its task (`/internal/v1/tasks/claim`). */
  taskToken: string;
  /** The control plane URL the agent claims from. */
  controlPlaneUrl: string;
  /** The output-processor ingest URL (not a secret; the agent's output token comes with the claim). */
  outputUrl: string;
  project: { slug: string; name: string };
  pipeline: { id: string; number: number };
  workflow: { id: string; name: string };
  job: { id: string; name: string; number: number; attempt: number };
  node: { index: number; total: number };
  resourceClass: string;
  executorType: "docker" | "machine";
  /** Open an SSH server for a rerun with SSH (port 64535-65535 on Nomad clients). */
  sshEnabled: boolean;
  /** Link back to the job page, for operators (Nomad `UI.Links`). */
  jobUrl: string;
}

export type TaskState =
  | { state: "queued" }
  | { state: "running"; at: string; host?: string; sshPort?: number }
  /** The agent reported its result through the task API; the backend only saw the process end. */
  | { state: "finished"; at: string; exitCode: number | null }
  /** The infrastructure lost the task (allocation lost, agent killed); `reason` says why. */
  | { state: "lost"; at: string; reason: string };

export interface TaskStatusEvent {
  taskId: string;
  status: TaskState;
}

export interface SchedulerBackend {
  readonly name: "local" | "nomad" | "queue";
  /** Start the task (idempotent on taskId). Resolves once the backend has accepted it. */
  submit(plan: TaskPlan): Promise<void>;
  /** Stop the task if it runs; no-op otherwise. */
  cancel(taskId: string): Promise<void>;
  /** Release what the backend keeps for a final task (Nomad: purge the job). */
  cleanup(taskId: string): Promise<void>;
  /** Subscribe to status changes; returns an unsubscribe function. */
  watch(listener: (event: TaskStatusEvent) => void): () => void;
  /**
   * After a control-plane restart: compare the backend's tasks with those the engine believes
   * active, re-emit their status, and stop what the engine no longer knows.
   */
  reconcile(activeTaskIds: ReadonlySet<string>): Promise<void>;
  /** Stop watching and release connections; running tasks keep running. */
  close(): Promise<void>;
}

/** The backend's infrastructure cannot be reached (503; the engine retries later). */
export class SchedulerUnavailableError extends DroverError<"DROVER_ERR_SCHEDULER_UNAVAILABLE"> {
  constructor(message: string, options?: { cause?: unknown }) {
    super("DROVER_ERR_SCHEDULER_UNAVAILABLE", message, options);
  }
}
