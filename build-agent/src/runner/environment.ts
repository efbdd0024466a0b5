import type { TaskSpec } from "@drover/task-api";

/** CircleCI's built-in variables for this task. */
export function builtinEnvironment(task: TaskSpec): Record<string, string> {
  const env: Record<string, string> = {
    CI: "true",
    CIRCLECI: "true",
    CIRCLE_SHA1: task.pipeline.revision,
    CIRCLE_BUILD_NUM: String(task.job.number),
    CIRCLE_JOB: task.job.name,
    CIRCLE_NODE_INDEX: String(task.node.index),
    CIRCLE_NODE_TOTAL: String(task.node.total),
    CIRCLE_PROJECT_USERNAME: task.project.org,
    CIRCLE_PROJECT_REPONAME: task.project.repo,
    CIRCLE_REPOSITORY_URL: task.project.gitUrl,
    CIRCLE_WORKFLOW_ID: task.workflow.id,
    CIRCLE_PIPELINE_ID: task.pipeline.id,
    CIRCLE_WORKING_DIRECTORY: task.workingDirectory,
    CIRCLE_BUILD_URL: task.job.url,
  };
  if (task.pipeline.branch !== undefined) env.CIRCLE_BRANCH = task.pipeline.branch;
  if (task.pipeline.tag !== undefined) env.CIRCLE_TAG = task.pipeline.tag;
  return env;
}

/** The job's environment without step variables: job > built-ins > contexts > project. */
export function jobEnvironment(task: TaskSpec): Record<string, string> {
  return {
    ...task.environment.project,
    ...task.environment.contexts,
    ...builtinEnvironment(task),
    ...task.environment.job,
  };
}
