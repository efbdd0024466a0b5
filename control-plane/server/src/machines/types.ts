import type { MachineLeaseInfo } from "@drover/task-api";
import { DroverError } from "../errors/index.js";

/** What a task's machine is made from: the image and resource class vm-service maps to a VM. */
export interface MachineRequest {
  image: string;
  resourceClass: string;
}

/**
 * The machines of tasks, as the control plane sees them (vm-service behind it). One machine per
 * task: `lease` for a task that has one returns it; `releaseTask` is idempotent and safe for a task
 * without a machine. Credentials in a lease go to the task's own agent only.
 */
export interface TaskMachines {
  lease(taskId: string, req: MachineRequest): Promise<MachineLeaseInfo>;
  releaseTask(taskId: string): Promise<void>;
  /** Tasks that hold a machine now (the control plane releases those of final tasks). */
  leasedTasks(): Promise<string[]>;
  /** The leases held now, with when each runs out. */
  leases(): Promise<TaskLease[]>;
  /** Extends a lease by vm-service's default lease length from now. */
  renew(leaseId: string): Promise<void>;
}

export interface TaskLease {
  taskId: string;
  leaseId: string;
  expiresAt: Date;
}

export type MachineErrorCode = "DROVER_ERR_MACHINES_UNAVAILABLE" | "DROVER_ERR_MACHINE_FAILED";

/** No machine could be had: vm-service is not configured or unreachable, or the provider failed. */
export class MachineError extends DroverError<MachineErrorCode> {}
