/** Renders compiled workflows back into a CircleCI 2.0 config, like `circleci config process`. */
import { stringify } from "yaml";
import type { JobBody } from "./jobs.js";
import type { ExecutorPlan, StepPlan } from "./plan.js";
import { DEFAULT_NAMES, DEFAULT_NO_OUTPUT_TIMEOUT_MS } from "./builtin-steps.js";
import type { WorkflowResult } from "./workflows.js";

function duration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  if (ms % 1000 === 0) return `${ms / 1000}s`;
  return `${ms}ms`;
}

function step(s: StepPlan): unknown {
  const o: Record<string, unknown> = {};
  if (s.type === "run") {
    if (s.name !== s.command) o.name = s.name;
    o.command = s.command;
    if (s.shell !== undefined) o.shell = s.shell;
    if (Object.keys(s.environment).length > 0) o.environment = s.environment;
    if (s.background) o.background = true;
    if (s.workingDirectory !== undefined) o.working_directory = s.workingDirectory;
    if (s.noOutputTimeoutMs !== DEFAULT_NO_OUTPUT_TIMEOUT_MS)
      o.no_output_timeout = duration(s.noOutputTimeoutMs);
    if (s.when !== "on_success") o.when = s.when;
    return { run: o };
  }
  if (s.name !== DEFAULT_NAMES[s.type]) o.name = s.name;
  switch (s.type) {
    case "checkout":
      if (s.path !== undefined) o.path = s.path;
      if (s.method !== undefined) o.method = s.method;
      break;
    case "save_cache":
      o.key = s.key;
      o.paths = s.paths;
      break;
    case "restore_cache":
      o.keys = s.keys;
      break;
    case "store_artifacts":
      o.path = s.path;
      if (s.destination !== undefined) o.destination = s.destination;
      break;
    case "store_test_results":
      o.path = s.path;
      break;
    case "persist_to_workspace":
      o.root = s.root;
      o.paths = s.paths;
      break;
    case "attach_workspace":
      o.at = s.at;
      break;
    case "add_ssh_keys":
      if (s.fingerprints.length > 0) o.fingerprints = s.fingerprints;
      break;
    case "setup_remote_docker":
      if (s.version !== undefined) o.version = s.version;
      if (s.dockerLayerCaching) o.docker_layer_caching = true;
      break;
  }
  if (s.when !== "on_success") o.when = s.when;
  return Object.keys(o).length === 0 ? s.type : { [s.type]: o };
}

function executor(e: ExecutorPlan, out: Record<string, unknown>): void {
  if (e.type === "docker") {
    out.docker = e.images.map((i) => {
      const o: Record<string, unknown> = { image: i.image };
      if (i.name !== undefined) o.name = i.name;
      if (i.entrypoint) o.entrypoint = i.entrypoint;
      if (i.command) o.command = i.command;
      if (i.user !== undefined) o.user = i.user;
      if (Object.keys(i.environment).length > 0) o.environment = i.environment;
      if (i.auth) o.auth = i.auth;
      if (i.awsAuth) {
        o.aws_auth = {
          ...(i.awsAuth.awsAccessKeyId !== undefined
            ? { aws_access_key_id: i.awsAuth.awsAccessKeyId }
            : {}),
          ...(i.awsAuth.awsSecretAccessKey !== undefined
            ? { aws_secret_access_key: i.awsAuth.awsSecretAccessKey }
            : {}),
          ...(i.awsAuth.oidcRoleArn !== undefined ? { oidc_role_arn: i.awsAuth.oidcRoleArn } : {}),
        };
      }
      return o;
    });
  } else if (e.platform === "macos") {
    out.macos = { xcode: e.xcode };
  } else {
    out.machine = {
      image: e.image,
      ...(e.dockerLayerCaching ? { docker_layer_caching: true } : {}),
    };
  }
}

function job(b: JobBody): unknown {
  if (b.type !== "build") return { type: b.type };
  if (b.noOp) return { type: "no-op" };
  const o: Record<string, unknown> = {};
  if (b.executor) executor(b.executor, o);
  o.resource_class = b.resourceClass;
  o.working_directory = b.workingDirectory;
  if (b.shell !== undefined) o.shell = b.shell;
  if (b.parallelism > 1) o.parallelism = b.parallelism;
  if (Object.keys(b.environment).length > 0) o.environment = b.environment;
  o.steps = b.steps.map(step);
  return o;
}

/** The processed config of the workflows that run (`when`/`unless` applied), as YAML. */
export function renderProcessed(workflows: WorkflowResult[]): string {
  const jobs: Record<string, unknown> = {};
  const wfs: Record<string, unknown> = {};
  for (const w of workflows) {
    if (!w.runs) continue;
    const list = w.instances.map((i) => {
      if (i.body && !(i.name in jobs) && i.type !== "approval") jobs[i.name] = job(i.body);
      const o: Record<string, unknown> = {};
      if (i.requires.length > 0) {
        o.requires = i.requires.map((r) =>
          r.statuses.length === 1 && r.statuses[0] === "success"
            ? r.target.name
            : { [r.target.name]: r.statuses },
        );
      }
      if (i.contexts.length > 0) o.context = i.contexts;
      if (i.filters) o.filters = i.filters.plain;
      if (i.type === "approval") o.type = "approval";
      if (i.serialGroup !== undefined) o["serial-group"] = i.serialGroup;
      return Object.keys(o).length === 0 ? i.name : { [i.name]: o };
    });
    const wf: Record<string, unknown> = {};
    if (w.schedule) {
      wf.triggers = [
        {
          schedule: {
            cron: w.schedule.cron,
            ...(w.schedule.branches.only || w.schedule.branches.ignore
              ? { filters: { branches: w.schedule.branches } }
              : {}),
          },
        },
      ];
    }
    wf.jobs = list;
    wfs[w.name] = wf;
  }
  wfs.version = 2;
  return stringify(
    { version: 2, jobs, workflows: wfs },
    { aliasDuplicateObjects: false, lineWidth: 0 },
  );
}
