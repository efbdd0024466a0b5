/** Executors: `docker`/`machine`/`macos` bodies, named executors with parameters, job defaults. */
import { ConfigErrorCode } from "./errors.js";
import type { Diagnostics } from "./errors.js";
import { declsOf, isUnresolved, lookup } from "./orbs.js";
import type { Namespace } from "./orbs.js";
import { bindArgs, substBody } from "./params.js";
import type { DockerImagePlan, ExecutorPlan } from "./plan.js";
import { asBool, asEnv, asString, asStringList, checkKeys } from "./shape.js";
import { scalarText } from "./yaml-source.js";
import type { PMap, PNode, Pos, Scalar } from "./yaml-source.js";

/** What an executor (or a job's inline executor keys) contributes to a job. */
export interface ExecutorParts {
  executor?: ExecutorPlan;
  resourceClass?: string;
  workingDirectory?: string;
  shell?: string;
  environment: Record<string, string>;
}

export const EXECUTOR_KEYS = new Set([
  "docker",
  "machine",
  "macos",
  "resource_class",
  "working_directory",
  "environment",
  "shell",
  "parameters",
  "description",
]);

const IMAGE_KEYS = new Set([
  "image",
  "name",
  "entrypoint",
  "command",
  "user",
  "environment",
  "auth",
  "aws_auth",
  // Accepted by CircleCI's schema and without effect there; Drover ignores them too.
  "container_name",
  "hostname",
  "ulimits",
  "sysctls",
  "ports",
]);

/** Reads the executor keys (`docker`, `machine`, `macos`, ...) present in `body`. */
export function readExecutorBody(body: PMap, diag: Diagnostics): ExecutorParts {
  const parts: ExecutorParts = { environment: {} };
  const kinds = ["docker", "machine", "macos"].filter((k) => body.index.has(k));
  if (kinds.length > 1) {
    diag.add(
      ConfigErrorCode.INVALID_VALUE,
      `an executor has one of docker, machine, macos; found ${kinds.join(", ")}`,
      body,
    );
  }
  const docker = body.index.get("docker")?.value;
  const machine = body.index.get("machine")?.value;
  const macos = body.index.get("macos")?.value;
  if (docker) parts.executor = readDocker(docker, diag);
  else if (machine) {
    const m = readMachine(machine, diag);
    if (m) {
      parts.executor = m.plan;
      if (m.resourceClass) parts.resourceClass = m.resourceClass;
      if (m.shell) parts.shell = m.shell;
    }
  } else if (macos) {
    const m = macos.kind === "map" ? macos : undefined;
    if (m) checkKeys(m, new Set(["xcode"]), "`macos`", diag);
    const xcode = asString(m?.index.get("xcode")?.value, "macos.xcode", diag);
    if (!xcode) diag.add(ConfigErrorCode.MISSING_KEY, "`macos` needs `xcode`", macos);
    else {
      parts.executor = {
        type: "machine",
        image: `xcode:${xcode}`,
        dockerLayerCaching: false,
        platform: "macos",
        xcode,
      };
    }
  }
  const rc = asString(body.index.get("resource_class")?.value, "resource_class", diag);
  if (rc !== undefined) parts.resourceClass = rc;
  const wd = asString(body.index.get("working_directory")?.value, "working_directory", diag);
  if (wd !== undefined) parts.workingDirectory = wd;
  const sh = asString(body.index.get("shell")?.value, "shell", diag);
  if (sh !== undefined) parts.shell = sh;
  parts.environment = asEnv(body.index.get("environment")?.value, "environment", diag);
  return parts;
}

function splitCommand(n: PNode | undefined, what: string, diag: Diagnostics): string[] | undefined {
  if (!n || (n.kind === "scalar" && n.value === null)) return undefined;
  if (n.kind === "scalar")
    return scalarText(n)
      .split(/\s+/)
      .filter((s) => s !== "");
  return asStringList(n, what, diag);
}

function readDocker(n: PNode, diag: Diagnostics): ExecutorPlan | undefined {
  if (n.kind !== "seq" || n.items.length === 0) {
    diag.add(ConfigErrorCode.INVALID_VALUE, "`docker` must be a non-empty list of images", n);
    return undefined;
  }
  const images: DockerImagePlan[] = [];
  for (const it of n.items) {
    if (it.kind !== "map") {
      diag.add(ConfigErrorCode.INVALID_VALUE, "each `docker` entry must be a map with `image`", it);
      continue;
    }
    checkKeys(it, IMAGE_KEYS, "a docker image", diag);
    const image = asString(it.index.get("image")?.value, "docker.image", diag);
    if (!image) {
      diag.add(ConfigErrorCode.MISSING_KEY, "a docker image needs `image`", it);
      continue;
    }
    const img: DockerImagePlan = {
      image,
      environment: asEnv(it.index.get("environment")?.value, "docker.environment", diag),
    };
    const name = asString(it.index.get("name")?.value, "docker.name", diag);
    if (name !== undefined) img.name = name;
    const ep = splitCommand(it.index.get("entrypoint")?.value, "docker.entrypoint", diag);
    if (ep) img.entrypoint = ep;
    const cmd = splitCommand(it.index.get("command")?.value, "docker.command", diag);
    if (cmd) img.command = cmd;
    const user = asString(it.index.get("user")?.value, "docker.user", diag);
    if (user !== undefined) img.user = user;
    const auth = it.index.get("auth")?.value;
    if (auth && auth.kind === "map") {
      checkKeys(auth, new Set(["username", "password"]), "docker `auth`", diag);
      img.auth = {
        username: asString(auth.index.get("username")?.value, "auth.username", diag) ?? "",
        password: asString(auth.index.get("password")?.value, "auth.password", diag) ?? "",
      };
    } else if (auth) diag.add(ConfigErrorCode.INVALID_VALUE, "docker `auth` must be a map", auth);
    const aws = it.index.get("aws_auth")?.value;
    if (aws && aws.kind === "map") {
      checkKeys(
        aws,
        new Set(["aws_access_key_id", "aws_secret_access_key", "oidc_role_arn"]),
        "docker `aws_auth`",
        diag,
      );
      const a: NonNullable<DockerImagePlan["awsAuth"]> = {};
      const id = asString(aws.index.get("aws_access_key_id")?.value, "aws_auth", diag);
      if (id !== undefined) a.awsAccessKeyId = id;
      const key = asString(aws.index.get("aws_secret_access_key")?.value, "aws_auth", diag);
      if (key !== undefined) a.awsSecretAccessKey = key;
      const role = asString(aws.index.get("oidc_role_arn")?.value, "aws_auth", diag);
      if (role !== undefined) a.oidcRoleArn = role;
      img.awsAuth = a;
    } else if (aws) diag.add(ConfigErrorCode.INVALID_VALUE, "docker `aws_auth` must be a map", aws);
    images.push(img);
  }
  return images.length > 0 ? { type: "docker", images } : undefined;
}

const MACHINE_KEYS = new Set([
  "image",
  "docker_layer_caching",
  "resource_class",
  "shell",
  "enabled",
]);

function readMachine(
  n: PNode,
  diag: Diagnostics,
): { plan: ExecutorPlan; resourceClass?: string; shell?: string } | undefined {
  if (n.kind === "scalar") {
    if (n.value === true)
      return { plan: { type: "machine", image: "default", dockerLayerCaching: false } };
    diag.add(ConfigErrorCode.INVALID_VALUE, "`machine` must be true or a map with `image`", n);
    return undefined;
  }
  if (n.kind !== "map") {
    diag.add(ConfigErrorCode.INVALID_VALUE, "`machine` must be true or a map with `image`", n);
    return undefined;
  }
  checkKeys(n, MACHINE_KEYS, "`machine`", diag);
  const image = asString(n.index.get("image")?.value, "machine.image", diag) ?? "default";
  const plan: ExecutorPlan = {
    type: "machine",
    image,
    dockerLayerCaching:
      asBool(n.index.get("docker_layer_caching")?.value, "machine.docker_layer_caching", diag) ??
      false,
  };
  if (image.startsWith("windows-")) plan.platform = "windows";
  const out: { plan: ExecutorPlan; resourceClass?: string; shell?: string } = { plan };
  const rc = asString(n.index.get("resource_class")?.value, "machine.resource_class", diag);
  if (rc !== undefined) out.resourceClass = rc;
  const sh = asString(n.index.get("shell")?.value, "machine.shell", diag);
  if (sh !== undefined) out.shell = sh;
  return out;
}

/**
 * Resolves `executor: name` or `executor: {name, ...args}` from `ns`. Returns undefined when it
 * cannot (reported, or silently for an unresolved orb: `unresolved` is then set).
 */
export function resolveExecutor(
  ref: PNode,
  ns: Namespace,
  pipeline: Map<string, Scalar>,
  interpolate: boolean,
  diag: Diagnostics,
): { parts?: ExecutorParts; unresolved?: boolean } {
  let name: string | undefined;
  let args: PMap | undefined;
  let at: Pos = ref;
  if (ref.kind === "scalar" && typeof ref.value === "string") name = ref.value;
  else if (ref.kind === "map") {
    const n = ref.index.get("name");
    name = asString(n?.value, "executor.name", diag);
    if (n) at = n.value;
    args = ref;
  }
  if (!name) {
    diag.add(ConfigErrorCode.INVALID_VALUE, "`executor` must be a name or a map with `name`", ref);
    return {};
  }
  const el = lookup(ns, "executors", name);
  if (isUnresolved(el)) return { unresolved: true };
  if (!el) {
    diag.add(ConfigErrorCode.UNDEFINED_EXECUTOR, `executor '${name}' is not defined`, at);
    return {};
  }
  checkKeys(el.body, EXECUTOR_KEYS, `executor '${el.qualified}'`, diag);
  const what = `executor '${el.qualified}'`;
  const bound = bindArgs(
    declsOf(el, diag),
    args ? args.entries.filter((e) => e.key !== "name") : [],
    at,
    what,
    diag,
    interpolate ? pipeline : undefined,
  );
  let body = el.body;
  if (interpolate) body = substBody(body, { pipeline, params: bound, owner: what }, diag);
  return { parts: readExecutorBody(body, diag) };
}
