/**
 * A machine provider: where vm-service's machines come from (`local` containers, EC2, GCE).
 *
 * Lifecycle of one machine, as `MachineInfo.state` reports it:
 *
 *   creating -> running -> deleting -> deleted
 *       \          \
 *        -> failed  -> failed      (the provider gave up on it, or it died; still destroy it)
 *
 * - `create` starts the machines and returns their ids at once (state `creating`), one id per
 *   spec in order, never only a count. A machine is `running` when the provider says so; whether
 *   its SSH server answers is vm-service's readiness check, not the provider's.
 * - `destroy` is idempotent: destroying an unknown, deleting or deleted machine succeeds.
 * - `list(tags)` returns every machine carrying all the given tags, in any state but `deleted`,
 *   including machines this process did not create (the reaper reconciles with it after a crash).
 * - Calls may run concurrently; a provider serializes what its backend needs serialized.
 * - Failures throw `ProviderError` with a `kind` saying whether retrying may help.
 */

/** What a machine is made of and who it is for. */
export interface MachineSpec {
  /** Image name as jobs write it (`ubuntu-2204:current`, `default`, ...); the provider maps it. */
  image: string;
  /** Resource class (`medium`, `large`, `arm.medium` ...); the provider maps it to a size. */
  resourceClass: string;
  /** Tags (labels) the machine carries; vm-service always sets its own (`ManagedBy` ...). */
  tags: Record<string, string>;
  /** What the machine needs at boot (a VM's user data). */
  boot: MachineBoot;
}

/** Installed on the machine before it boots: its SSH identity and who may log in. */
export interface MachineBoot {
  /** The login user (`circleci`, as on CircleCI's machine images). */
  sshUser: string;
  /** OpenSSH public key line allowed to log in as `sshUser`. */
  authorizedKey: string;
  /** The machine's own SSH host key (OpenSSH private key), so clients can pin its fingerprint. */
  hostKey: string;
}

export type MachineState = "creating" | "running" | "deleting" | "deleted" | "failed";

export interface MachineInfo {
  id: string;
  state: MachineState;
  tags: Record<string, string>;
  /** Address reachable from the agents' network (VPC-internal for clouds). */
  internalAddress: string | null;
  /** Public address, when the machine has one (off by default). */
  externalAddress: string | null;
  createdAt: Date;
  /** Why the machine is `failed`, in the provider's words. */
  failure?: string;
}

export interface ProviderHealth {
  ok: boolean;
  detail: string;
}

export interface MachineProvider {
  readonly name: string;
  create(specs: MachineSpec[]): Promise<string[]>;
  /** The machines with these ids that still exist (unknown ids are left out). */
  describe(ids: string[]): Promise<MachineInfo[]>;
  list(tags: Record<string, string>): Promise<MachineInfo[]>;
  destroy(ids: string[]): Promise<void>;
  health(): Promise<ProviderHealth>;
  /** Releases the provider's own resources (clients, connections); machines are left alone. */
  close(): Promise<void>;
}

/**
 * The port of a machine's own OpenSSH server for a rerun with SSH: it admits only the keys the
 * agent writes to `/etc/drover/rerun_keys/<user>` (the user who asked), never the job's key.
 */
export const RERUN_SSH_PORT = 54782;
