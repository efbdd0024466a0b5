import type { SchedulerBackend, TaskPlan, TaskStatusEvent } from "../types.js";

/**
 * A backend that accepts every task at once and runs nothing: it keeps the submitted plans (with
 * their task tokens) so a test or benchmark can play the agent. Same rules as real backends.
 */
export class InstantScheduler implements SchedulerBackend {
  readonly name = "local" as const;
  readonly submitted = new Map<string, TaskPlan>();
  readonly canceled = new Set<string>();
  readonly cleaned = new Set<string>();
  private readonly listeners = new Set<(e: TaskStatusEvent) => void>();
  private waiters: Array<() => void> = [];

  async submit(plan: TaskPlan): Promise<void> {
    if (this.submitted.has(plan.taskId)) return;
    this.submitted.set(plan.taskId, plan);
    this.emit({ taskId: plan.taskId, status: { state: "queued" } });
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  async cancel(taskId: string): Promise<void> {
    if (this.submitted.has(taskId)) this.canceled.add(taskId);
  }

  async cleanup(taskId: string): Promise<void> {
    this.cleaned.add(taskId);
  }

  watch(listener: (event: TaskStatusEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Reports every active task it does not know as lost, like a backend that lost them. */
  async reconcile(activeTaskIds: ReadonlySet<string>): Promise<void> {
    for (const id of activeTaskIds) {
      if (!this.submitted.has(id)) {
        this.emit({
          taskId: id,
          status: { state: "lost", at: new Date().toISOString(), reason: "unknown to the backend" },
        });
      }
    }
  }

  async close(): Promise<void> {
    this.listeners.clear();
  }

  /** Emits a status event as a real backend would (e.g. the agent process exited). */
  emit(e: TaskStatusEvent): void {
    for (const l of this.listeners) l(e);
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
