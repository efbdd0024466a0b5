/** Built-in steps (`run`, `checkout`, caches, workspaces...) normalized into `StepPlan`s. */
import { ConfigErrorCode } from "./errors.js";
import type { Diagnostics } from "./errors.js";
import type { StepPlan, StepWhen } from "./plan.js";
import { asBool, asEnv, asString, asStringList, parseDuration } from "./shape.js";
import { scalarText } from "./yaml-source.js";
import type { PMap, PNode, Pos } from "./yaml-source.js";

/** CircleCI's default `no_output_timeout`. */
export const DEFAULT_NO_OUTPUT_TIMEOUT_MS = 10 * 60 * 1000;

export const BUILTINS = new Set([
  "run",
  "deploy",
  "checkout",
  "save_cache",
  "restore_cache",
  "store_artifacts",
  "store_test_results",
  "persist_to_workspace",
  "attach_workspace",
  "add_ssh_keys",
  "setup_remote_docker",
]);

/**
 * CircleCI 2.0's hyphenated spellings of built-in steps (`restore-cache`, `store-artifacts`...):
 * old configs still use them, so they are accepted with a warning.
 */
export const LEGACY_STEP_NAMES: ReadonlyMap<string, string> = new Map(
  [...BUILTINS].filter((n) => n.includes("_")).map((n) => [n.replaceAll("_", "-"), n]),
);

export const DEFAULT_NAMES: Record<string, string> = {
  checkout: "Checkout code",
  save_cache: "Saving Cache",
  restore_cache: "Restoring Cache",
  store_artifacts: "Uploading artifacts",
  store_test_results: "Uploading test results",
  persist_to_workspace: "Persisting to Workspace",
  attach_workspace: "Attaching Workspace",
  add_ssh_keys: "Add SSH Keys",
  setup_remote_docker: "Setup a remote Docker engine",
};

const STEP_KEYS: Record<string, Set<string>> = {
  run: new Set([
    "name",
    "command",
    "shell",
    "environment",
    "background",
    "working_directory",
    "no_output_timeout",
    "when",
  ]),
  checkout: new Set(["name", "path", "when", "method"]),
  save_cache: new Set(["name", "key", "paths", "when"]),
  // `paths` is accepted (and ignored) by CircleCI on restore_cache; real configs carry it.
  restore_cache: new Set(["name", "key", "keys", "when", "paths"]),
  store_artifacts: new Set(["name", "path", "destination", "when"]),
  store_test_results: new Set(["name", "path", "when"]),
  persist_to_workspace: new Set(["name", "root", "paths", "when"]),
  attach_workspace: new Set(["name", "at", "when"]),
  add_ssh_keys: new Set(["name", "fingerprints", "when"]),
  setup_remote_docker: new Set(["name", "version", "docker_layer_caching", "when"]),
};

function required(m: PMap, key: string, step: string, at: Pos, diag: Diagnostics): string {
  const v = asString(m.index.get(key)?.value, `${step}.${key}`, diag);
  if (v === undefined) {
    diag.add(ConfigErrorCode.MISSING_KEY, `\`${step}\` needs \`${key}\``, at);
    return "";
  }
  return v;
}

export function builtin(
  name: string,
  arg: PNode | undefined,
  at: Pos,
  diag: Diagnostics,
): StepPlan | undefined {
  const type = name === "deploy" ? "run" : name;
  let m: PMap | undefined;
  if (arg && arg.kind === "map") m = arg;
  else if (type === "run" && arg && arg.kind === "scalar" && arg.value !== null) {
    const command = scalarText(arg);
    return runStep(
      command,
      command,
      "on_success",
      {},
      false,
      undefined,
      undefined,
      DEFAULT_NO_OUTPUT_TIMEOUT_MS,
    );
  } else if (arg && !(arg.kind === "scalar" && arg.value === null)) {
    diag.add(ConfigErrorCode.INVALID_VALUE, `\`${name}\` takes a map of options`, arg);
    return undefined;
  }
  const opts: PMap = m ?? {
    kind: "map",
    entries: [],
    index: new Map(),
    src: at.src,
    offset: at.offset,
  };
  // CircleCI ignores unknown options on built-in steps (real configs carry typos and extra
  // `description`s): a warning, not an error.
  const known = STEP_KEYS[type] as Set<string>;
  for (const e of opts.entries) {
    if (!known.has(e.key)) {
      diag.warn(
        ConfigErrorCode.WARN_UNKNOWN_STEP_OPTION,
        `unknown option '${e.key}' on \`${name}\` step (ignored)`,
        e.keyPos,
      );
    }
  }
  const label = asString(opts.index.get("name")?.value, `${name}.name`, diag);
  const whenNode = opts.index.get("when")?.value;
  let when: StepWhen = "on_success";
  if (whenNode) {
    const w = asString(whenNode, `${name}.when`, diag);
    if (w === "always" || w === "on_success" || w === "on_fail") when = w;
    else
      diag.add(
        ConfigErrorCode.INVALID_VALUE,
        `\`when\` must be always, on_success or on_fail`,
        whenNode,
      );
  }
  const dflt = DEFAULT_NAMES[type] ?? type;
  const get = (k: string): PNode | undefined => opts.index.get(k)?.value;
  switch (type) {
    case "run": {
      const command = required(opts, "command", name, at, diag);
      const t = get("no_output_timeout");
      const timeout = t ? parseDuration(t, `${name}.no_output_timeout`, diag) : undefined;
      return runStep(
        label ?? command,
        command,
        when,
        asEnv(get("environment"), `${name}.environment`, diag),
        asBool(get("background"), `${name}.background`, diag) ?? false,
        asString(get("shell"), `${name}.shell`, diag),
        asString(get("working_directory"), `${name}.working_directory`, diag),
        timeout ?? DEFAULT_NO_OUTPUT_TIMEOUT_MS,
      );
    }
    case "checkout": {
      const s: StepPlan = { type: "checkout", name: label ?? dflt, when };
      const path = asString(get("path"), "checkout.path", diag);
      if (path !== undefined) s.path = path;
      const method = asString(get("method"), "checkout.method", diag);
      if (method !== undefined) s.method = method;
      return s;
    }
    case "save_cache":
      return {
        type: "save_cache",
        name: label ?? dflt,
        when,
        key: required(opts, "key", name, at, diag),
        paths: asStringList(get("paths"), "save_cache.paths", diag),
      };
    case "restore_cache": {
      const keys = [
        ...asStringList(get("key"), "restore_cache.key", diag),
        ...asStringList(get("keys"), "restore_cache.keys", diag),
      ];
      if (keys.length === 0)
        diag.add(ConfigErrorCode.MISSING_KEY, "`restore_cache` needs `key` or `keys`", at);
      return { type: "restore_cache", name: label ?? dflt, when, keys };
    }
    case "store_artifacts": {
      const s: StepPlan = {
        type: "store_artifacts",
        name: label ?? dflt,
        when,
        path: required(opts, "path", name, at, diag),
      };
      const d = asString(get("destination"), "store_artifacts.destination", diag);
      if (d !== undefined) s.destination = d;
      return s;
    }
    case "store_test_results":
      return {
        type: "store_test_results",
        name: label ?? dflt,
        when,
        path: required(opts, "path", name, at, diag),
      };
    case "persist_to_workspace":
      return {
        type: "persist_to_workspace",
        name: label ?? dflt,
        when,
        root: required(opts, "root", name, at, diag),
        paths: asStringList(get("paths"), "persist_to_workspace.paths", diag),
      };
    case "attach_workspace":
      return {
        type: "attach_workspace",
        name: label ?? dflt,
        when,
        at: required(opts, "at", name, at, diag),
      };
    case "add_ssh_keys":
      return {
        type: "add_ssh_keys",
        name: label ?? dflt,
        when,
        fingerprints: asStringList(get("fingerprints"), "add_ssh_keys.fingerprints", diag),
      };
    case "setup_remote_docker": {
      const s: StepPlan = {
        type: "setup_remote_docker",
        name: label ?? dflt,
        when,
        dockerLayerCaching:
          asBool(get("docker_layer_caching"), "setup_remote_docker.docker_layer_caching", diag) ??
          false,
      };
      const v = asString(get("version"), "setup_remote_docker.version", diag);
      if (v !== undefined) s.version = v;
      return s;
    }
  }
  return undefined;
}

function runStep(
  name: string,
  command: string,
  when: StepWhen,
  environment: Record<string, string>,
  background: boolean,
  shell: string | undefined,
  workingDirectory: string | undefined,
  noOutputTimeoutMs: number,
): StepPlan {
  const s: StepPlan = {
    type: "run",
    name,
    when,
    command,
    environment,
    background,
    noOutputTimeoutMs,
  };
  if (shell !== undefined) s.shell = shell;
  if (workingDirectory !== undefined) s.workingDirectory = workingDirectory;
  return s;
}
