/**
 * What the job spec builder needs for one task (one parallel node of one job attempt).
 * Mirrors the control plane's `TaskPlan`; the control plane maps its plan onto this so that
 * nomad-jobs never depends on the control plane. It carries no secret except the single-use,
 * short-lived task token.
 */
export interface TaskSpecInput {
  taskId: string;
  taskToken: string;
  controlPlaneUrl: string;
  outputUrl: string;
  project: { slug: string; name: string };
  pipeline: { id: string; number: number };
  workflow: { id: string; name: string };
  job: { id: string; name: string; number: number; attempt: number };
  node: { index: number; total: number };
  resourceClass: string;
  executorType: "docker" | "machine";
  sshEnabled: boolean;
  jobUrl: string;
}
