/**
 * Live status for the pages: each committed workflow change (the engine's `onWorkflowChange`) is
 * published on the workflow's project channel, which browsers of members join as
 * `private-project-<projectId>` (authorized by `api/routes/pusher-auth.ts`). Pages re-read the
 * API on an event, so the event carries ids and the workflow's status only.
 */
import type { WorkflowChangedMessage } from "@drover/output-processor";
import type { Logger } from "pino";
import type { Database } from "../db/types.js";
import type { WorkflowEngine } from "../engine/engine.js";
import { getWorkflow } from "../model/workflows.js";

/** Sends one event to a project's channel (the output-processor's `publishProjectEvent`). */
export type PublishProjectEvent = (
  projectId: string,
  event: WorkflowChangedMessage,
) => Promise<void>;

/** Publishes every workflow change of `engine` until the returned function is called. */
export function publishWorkflowChanges(
  engine: WorkflowEngine,
  db: Database,
  publish: PublishProjectEvent,
  log: Logger,
): () => void {
  return engine.onWorkflowChange(({ workflowId }) => {
    void (async () => {
      const w = await getWorkflow(db, workflowId);
      if (!w) return;
      await publish(w.projectId, {
        kind: "workflow_changed",
        workflowId: w.id,
        pipelineId: w.pipelineId,
        status: w.status,
      });
    })().catch((err: unknown) =>
      log.warn({ err, workflowId }, "could not publish a workflow change"),
    );
  });
}
