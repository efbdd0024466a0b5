import {
  SchedulerUnavailableError,
  type SchedulerBackend,
  type TaskPlan,
  type TaskState,
  type TaskStatusEvent,
} from "../types.js";

/**
 * A backend that accepts every task at once and runs nothing: it keeps the submitted plans (with
 * their task tokens) so a test or benchmark can play the agent (`emit`). Same rules as real
 * backends: it remembers each task's last status and re-emits it on `reconcile`, and while
 * `setAvailable(false)` holds, every call fails with `SchedulerUnavailableError`.
 */
export class InstantScheduler implements SchedulerBackend {
  readonly name = "local" as const;
  readonly submitted = new Map<string, TaskPlan>();
  readonly canceled = new Set<string>();
  readonly cleaned = new Set<string>();
  /** The last status emitted per task. */
  readonly states = new Map<string, TaskState>();
  private readonly listeners = new Set<(e: TaskStatusEvent) => void>();
  private waiters: Array<() => void> = [];
  private available = true;

  async submit(plan: TaskPlan): Promise<void> {
    this.assertAvailable();
    if (this.submitted.has(plan.taskId)) return;
    this.submitted.set(plan.taskId, plan);
    this.emit({ taskId: plan.taskId, status: { state: "queued" } });
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async cancel(taskId: string): Promise<void> {
    this.assertAvailable();
    if (this.submitted.has(taskId)) this.canceled.add(taskId);
  }

  async cleanup(taskId: string): Promise<void> {
    this.assertAvailable();
    this.cleaned.add(taskId);
  }

  watch(listener: (event: TaskStatusEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * Re-emits the status of every active task it knows, reports those it does not know as lost
   * (like a backend that lost them), and cancels known tasks the engine no longer lists.
   */
  async reconcile(activeTaskIds: ReadonlySet<string>): Promise<void> {
    this.assertAvailable();
    for (const id of activeTaskIds) {
      const state = this.states.get(id);
      if (this.submitted.has(id) && state) this.emit({ taskId: id, status: state });
      else
        this.emit({
          taskId: id,
          status: { state: "lost", at: new Date().toISOString(), reason: "unknown to the backend" },
        });
    }
    for (const id of this.submitted.keys()) {
      const state = this.states.get(id)?.state;
      if (!activeTaskIds.has(id) && state !== "finished" && state !== "lost") this.canceled.add(id);
    }
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  /** Emits a status event as a real backend would (e.g. the agent process exited). */
  emit(e: TaskStatusEvent): void {
    this.states.set(e.taskId, e.status);
    for (const l of this.listeners) l(e);
  }

  /** While false, every call fails as if the backend's infrastructure could not be reached. */
  setAvailable(available: boolean): void {
    this.available = available;
  }

  private assertAvailable(): void {
    if (!this.available)
      throw new SchedulerUnavailableError("instant scheduler: set unavailable by the test");
  }

  /** Resolves once `predicate` holds over the submitted plans (checked on each submit). */
  async waitFor(
    predicate: (submitted: TaskPlan[]) => boolean,
    timeoutMs = 10_000,
  ): Promise<TaskPlan[]> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const all = [...this.submitted.values()];
      if (predicate(all)) return all;
      if (Date.now() > deadline) throw new Error("timed out waiting for submitted tasks");
      await new Promise<void>((r) => {
        this.waiters.push(r);
        setTimeout(r, 50).unref();
      });
    }
  }
}
