/**
 * Supplies a claimed task's project and context environment and the values the agent must mask.
 * Called once per claim, outside any transaction, after the token was consumed. Throwing fails
 * the claim (the task then ends `infrastructure_fail` with the reason). The default returns
 * nothing; the secrets engine plugs in a real one. `checkAccess`, when present, is asked before a
 * job's tasks are handed to the scheduler; a refusal ends the job `unauthorized` without running it.
 */
export interface TaskSecretsProvider {
  forTask(input: TaskSecretsInput): Promise<TaskSecrets>;
  checkAccess?(input: Omit<TaskSecretsInput, "taskId" | "projectSlug">): Promise<TaskAccessResult>;
}

/** What the claim endpoint passes to `TaskSecretsProvider.forTask`. */
export interface TaskSecretsInput {
  taskId: string;
  projectId: string;
  projectSlug: string;
  orgId: string;
  /** Context names from the job's `context:` key, in config order. */
  contexts: string[];
  /** The user the job runs as (the trigger's or the rerun's actor); null for system triggers. */
  userId: string | null;
}

/** A claimed task's environment layers and the values its agent must mask. */
export interface TaskSecrets {
  project: Record<string, string>;
  contexts: Record<string, string>;
  secrets: string[];
}

export type TaskAccessResult =
  { allowed: true } | { allowed: false; context: string; reason: string };

export const emptySecretsProvider: TaskSecretsProvider = {
  forTask: () => Promise.resolve({ project: {}, contexts: {}, secrets: [] }),
};
