/**
 * The task `config` specs of the Nomad drivers Drover uses, re-expressed as data from
 * hashicorp/nomad at commit aa026cc99cfb74a77e519a1c1f0c78ba1b452705:
 * - docker: `taskConfigSpec`, `mountBodySpec`, `healthchecksBodySpec` in drivers/docker/config.go
 * - raw_exec: `taskConfigSpec` in drivers/rawexec/driver.go
 * - exec: `taskConfigSpec` in drivers/exec/driver.go
 *
 * A Nomad server stores a task's `Config` without looking at it (nomad/job_endpoint_hooks.go,
 * jobValidate: "TODO: Validate the driver configurations"); the client decodes it against the
 * driver's spec when the task starts (client/allocrunner/taskrunner/task_runner.go, runDriver)
 * and fails the task with a "Failed Validation" event when it does not fit. `decode.ts` does that
 * decoding. Defaults (`hclspec.NewDefault`) are left out: they never make a config invalid.
 */

/** An HCL type constraint (`hclspec.NewAttr`'s type string). */
export type HclType =
  | { readonly kind: "string" | "number" | "bool" }
  | { readonly kind: "list" | "map"; readonly of: HclType };

/** One entry of an hclspec object. */
export type FieldSpec =
  /** `hclspec.NewAttr(name, type, required)`. */
  | { readonly kind: "attr"; readonly type: HclType; readonly required: boolean }
  /** `hclspec.NewBlock`: at most one block. */
  | { readonly kind: "block"; readonly body: BodySpec }
  /** `hclspec.NewBlockList`: any number of blocks. */
  | { readonly kind: "blockList"; readonly body: BodySpec }
  /** `hclspec.NewBlockAttrs`: one block whose attributes all have one type. */
  | { readonly kind: "blockAttrs"; readonly type: HclType };

/** `hclspec.NewObject`: field name -> spec. */
export type BodySpec = Readonly<Record<string, FieldSpec>>;

const string: HclType = { kind: "string" };
const number: HclType = { kind: "number" };
const bool: HclType = { kind: "bool" };
const list = (of: HclType): HclType => ({ kind: "list", of });
const map = (of: HclType): HclType => ({ kind: "map", of });

const opt = (type: HclType): FieldSpec => ({ kind: "attr", type, required: false });
const req = (type: HclType): FieldSpec => ({ kind: "attr", type, required: true });
const block = (body: BodySpec): FieldSpec => ({ kind: "block", body });
const blocks = (body: BodySpec): FieldSpec => ({ kind: "blockList", body });
const blockAttrs = (type: HclType): FieldSpec => ({ kind: "blockAttrs", type });

const strings = list(string);
const stringMaps = list(map(string));

/** docker's `mount` / `mounts` block. */
const dockerMount: BodySpec = {
  type: opt(string),
  target: opt(string),
  source: opt(string),
  readonly: opt(bool),
  bind_options: block({ propagation: opt(string) }),
  tmpfs_options: block({ size: opt(number), mode: opt(number) }),
  volume_options: block({
    no_copy: opt(bool),
    labels: opt(stringMaps),
    driver_config: block({ name: opt(string), options: opt(stringMaps) }),
  }),
};

/** docker driver task config. */
export const dockerTaskConfig: BodySpec = {
  image: req(string),
  advertise_ipv6_address: opt(bool),
  args: opt(strings),
  auth: block({
    username: opt(string),
    password: opt(string),
    email: opt(string),
    server_address: opt(string),
  }),
  auth_soft_fail: opt(bool),
  cap_add: opt(strings),
  cap_drop: opt(strings),
  cgroupns: opt(string),
  command: opt(string),
  cpuset_cpus: opt(string),
  cpu_hard_limit: opt(bool),
  cpu_cfs_period: opt(number),
  container_exists_attempts: opt(number),
  devices: blocks({
    host_path: opt(string),
    container_path: opt(string),
    cgroup_permissions: opt(string),
  }),
  dns_search_domains: opt(strings),
  dns_options: opt(strings),
  dns_servers: opt(strings),
  entrypoint: opt(strings),
  extra_hosts: opt(strings),
  force_pull: opt(bool),
  group_add: opt(strings),
  healthchecks: block({ disable: opt(bool) }),
  hostname: opt(string),
  init: opt(bool),
  interactive: opt(bool),
  ipc_mode: opt(string),
  ipv4_address: opt(string),
  ipv6_address: opt(string),
  isolation: opt(string),
  // A list of maps, not a map: the JSON API takes `[{"key": "value"}]`.
  labels: opt(stringMaps),
  load: opt(string),
  logging: block({ type: opt(string), driver: opt(string), config: opt(stringMaps) }),
  mac_address: opt(string),
  memory_hard_limit: opt(number),
  mount: blocks(dockerMount),
  mounts: blocks(dockerMount),
  network_aliases: opt(strings),
  network_mode: opt(string),
  oom_score_adj: opt(number),
  runtime: opt(string),
  pids_limit: opt(number),
  pid_mode: opt(string),
  ports: opt(strings),
  port_map: opt(list(map(number))),
  privileged: opt(bool),
  image_pull_timeout: opt(string),
  readonly_rootfs: opt(bool),
  security_opt: opt(strings),
  shm_size: opt(number),
  storage_opt: blockAttrs(string),
  sysctl: opt(stringMaps),
  tty: opt(bool),
  ulimit: opt(stringMaps),
  uts_mode: opt(string),
  userns_mode: opt(string),
  volumes: opt(strings),
  volume_driver: opt(string),
  work_dir: opt(string),
};

/** raw_exec driver task config. */
export const rawExecTaskConfig: BodySpec = {
  command: req(string),
  args: opt(strings),
  cgroup_v2_override: opt(string),
  cgroup_v1_override: opt(stringMaps),
  oom_score_adj: opt(number),
  work_dir: opt(string),
  denied_envvars: opt(strings),
};

/** exec driver task config. */
export const execTaskConfig: BodySpec = {
  command: req(string),
  args: opt(strings),
  pid_mode: opt(string),
  ipc_mode: opt(string),
  cap_add: opt(strings),
  cap_drop: opt(strings),
  work_dir: opt(string),
};

/** Task config specs by driver name. */
export const driverTaskConfigs: Readonly<Record<string, BodySpec>> = {
  docker: dockerTaskConfig,
  raw_exec: rawExecTaskConfig,
  exec: execTaskConfig,
};
