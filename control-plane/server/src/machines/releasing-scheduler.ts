import type { Logger } from "pino";
import type { SchedulerBackend, TaskPlan, TaskStatusEvent } from "../scheduler/types.js";
import type { TaskMachines } from "./types.js";

/**
 * A scheduler backend that also gives back a task's machine when the engine cancels the task or
 * cleans it up (it is final): the machine goes with the task, whatever ended it. A failed release
 * is logged; `releaseFinished` and vm-service's lease expiry are the backstops.
 */
export class MachineReleasingScheduler implements SchedulerBackend {
  readonly #log: Logger;
  readonly #releasing = new Set<Promise<void>>();

  constructor(
    readonly inner: SchedulerBackend,
    private readonly machines: TaskMachines,
    logger: Logger,
  ) {
    this.#log = logger.child({ unit: "task-machines" });
  }

  get name(): SchedulerBackend["name"] {
    return this.inner.name;
  }

  submit(plan: TaskPlan): Promise<void> {
    return this.inner.submit(plan);
  }

  async cancel(taskId: string): Promise<void> {
    await this.inner.cancel(taskId);
    await this.#release(taskId);
  }

  async cleanup(taskId: string): Promise<void> {
    await this.inner.cleanup(taskId);
    await this.#release(taskId);
  }

  watch(listener: (event: TaskStatusEvent) => void): () => void {
    return this.inner.watch(listener);
  }

  reconcile(activeTaskIds: ReadonlySet<string>): Promise<void> {
    return this.inner.reconcile(activeTaskIds);
  }

  /** Waits for releases under way (a server stopping right after a task ended leaks nothing). */
  async close(): Promise<void> {
    await Promise.allSettled([...this.#releasing]);
    await this.inner.close();
  }

  async #release(taskId: string): Promise<void> {
    const p = this.machines
      .releaseTask(taskId)
      .catch((err: unknown) =>
        this.#log.warn({ err, taskId }, "releasing the task's machine failed"),
      );
    this.#releasing.add(p);
    try {
      await p;
    } finally {
      this.#releasing.delete(p);
    }
  }
}
