/** One job invocation expanded: parameters bound, executor resolved, steps normalized. */
import { ConfigErrorCode } from "./errors.js";
import { readExecutorBody, resolveExecutor } from "./executors.js";
import type { ExecutorParts } from "./executors.js";
import { declsOf } from "./orbs.js";
import type { Element, Namespace } from "./orbs.js";
import { bindArgs, substBody } from "./params.js";
import type { JobPlan, StepPlan } from "./plan.js";
import { asPositiveInt, asString, checkKeys } from "./shape.js";
import { expandSteps } from "./steps.js";
import type { ExpandContext } from "./steps.js";
import type { PEntry, PNode, Pos } from "./yaml-source.js";

/** The part of a `JobPlan` that comes from the job definition. */
export type JobBody = Pick<
  JobPlan,
  | "type"
  | "executor"
  | "steps"
  | "environment"
  | "workingDirectory"
  | "shell"
  | "resourceClass"
  | "parallelism"
  | "noOp"
>;

export const DEFAULT_WORKING_DIRECTORY = "~/project";
export const DEFAULT_RESOURCE_CLASS = "medium";

export const JOB_KEYS = new Set([
  "docker",
  "machine",
  "macos",
  "executor",
  "resource_class",
  "working_directory",
  "environment",
  "shell",
  "parallelism",
  "steps",
  "parameters",
  "description",
  "type",
  "circleci_ip_ranges",
  // 2.0 job-level branch filter (applied to the implicit workflow only, as CircleCI does).
  "branches",
]);

export interface JobInvocation {
  el: Element;
  args: PEntry[];
  at: Pos;
  /** `pre-steps`/`post-steps` from the workflow, already interpolated, resolved in `root`. */
  preSteps?: PNode;
  postSteps?: PNode;
  root: Namespace;
}

/** Expands a job; returns undefined when an unresolved orb leaves it incomplete. */
export function expandJob(inv: JobInvocation, ctx: ExpandContext): JobBody | undefined {
  const { el, diag } = { el: inv.el, diag: ctx.diag };
  const what = `job '${el.qualified}'`;
  checkKeys(el.body, JOB_KEYS, what, diag);
  const typeNode = el.body.index.get("type")?.value;
  const type = typeNode ? asString(typeNode, "type", diag) : "build";
  if (type === "no-op" || type === "approval") {
    return {
      type: type === "approval" ? "approval" : "build",
      ...(type === "no-op" ? { noOp: true } : {}),
      steps: [],
      environment: {},
      workingDirectory: DEFAULT_WORKING_DIRECTORY,
      resourceClass: DEFAULT_RESOURCE_CLASS,
      parallelism: 1,
    };
  }
  if (type !== "build" && typeNode) {
    diag.add(ConfigErrorCode.INVALID_VALUE, `job type must be build, approval or no-op`, typeNode);
  }
  const bound = bindArgs(
    declsOf(el, diag),
    inv.args,
    inv.at,
    what,
    diag,
    ctx.interpolate ? ctx.pipeline : undefined,
  );
  const body = ctx.interpolate
    ? substBody(el.body, { pipeline: ctx.pipeline, params: bound, owner: what }, diag)
    : el.body;

  let incomplete = false;
  let named: ExecutorParts = { environment: {} };
  const ref = body.index.get("executor")?.value;
  const own = readExecutorBody(body, diag);
  if (ref) {
    if (own.executor) {
      diag.add(
        ConfigErrorCode.INVALID_VALUE,
        `${what} has both \`executor\` and an inline executor`,
        ref,
      );
    }
    const r = resolveExecutor(ref, el.ns, ctx.pipeline, ctx.interpolate, diag);
    if (r.unresolved) incomplete = true;
    if (r.parts) named = r.parts;
  }
  const executor = own.executor ?? named.executor;
  if (!executor && !ref) {
    diag.add(
      ConfigErrorCode.NO_EXECUTOR,
      `${what} has no executor (docker, machine, macos or executor)`,
      el.at,
    );
  }

  const steps: StepPlan[] = [];
  expandSteps(inv.preSteps, inv.root, ctx, steps);
  const own_steps = body.index.get("steps")?.value;
  if (!own_steps) diag.add(ConfigErrorCode.MISSING_KEY, `${what} has no \`steps\``, el.at);
  expandSteps(own_steps, el.ns, ctx, steps);
  expandSteps(inv.postSteps, inv.root, ctx, steps);
  if (incomplete) return undefined;

  const out: JobBody = {
    type: "build",
    steps,
    environment: { ...named.environment, ...own.environment },
    workingDirectory: own.workingDirectory ?? named.workingDirectory ?? DEFAULT_WORKING_DIRECTORY,
    resourceClass: own.resourceClass ?? named.resourceClass ?? DEFAULT_RESOURCE_CLASS,
    parallelism: asPositiveInt(body.index.get("parallelism")?.value, "parallelism", diag) ?? 1,
  };
  if (executor) {
    // `machine: true` with a `windows.*` resource class is a Windows VM.
    out.executor =
      executor.type === "machine" && !executor.platform && out.resourceClass.startsWith("windows.")
        ? { ...executor, platform: "windows" }
        : executor;
  }
  const shell = own.shell ?? named.shell;
  if (shell !== undefined) out.shell = shell;
  return out;
}
