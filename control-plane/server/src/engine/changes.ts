import type { Logger } from "pino";

/**
 * What an engine operation does once its transaction has committed, never before: tell listeners
 * the workflow changed, then hand the workflow's new pending tasks to the backend. The engine
 * implements it; the operation modules call it, so they never import the dispatcher.
 */
export interface AfterCommit {
  /** Tells listeners a workflow changed. Synchronous; a listener that throws is logged. */
  changed(workflowId: string): void;
  /** Submits the pending tasks of these workflows; resolves to the number taken. */
  submit(workflowIds: string[]): Promise<number>;
}

export type WorkflowChangeListener = (e: { workflowId: string }) => void;

/** In-process listeners for committed workflow changes. */
export class WorkflowChanges {
  private readonly listeners = new Set<WorkflowChangeListener>();

  constructor(private readonly log: Logger) {}

  subscribe(listener: WorkflowChangeListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  notify(workflowId: string): void {
    for (const l of this.listeners) {
      try {
        l({ workflowId });
      } catch (err) {
        this.log.warn({ err, workflowId }, "workflow change listener threw");
      }
    }
  }
}
