import type { MachineLeaseInfo } from "@drover/task-api";
import { VmError, type VmServiceClient } from "@drover/vm-service/client";
import { MachineError, type MachineRequest, type TaskLease, type TaskMachines } from "./types.js";

/** `TaskMachines` over vm-service's API. */
export class VmTaskMachines implements TaskMachines {
  constructor(private readonly client: VmServiceClient) {}

  async lease(taskId: string, req: MachineRequest): Promise<MachineLeaseInfo> {
    try {
      const l = await this.client.lease({ taskId, ...req });
      return {
        id: l.id,
        provider: l.provider,
        providerId: l.providerId,
        host: l.host,
        sshPort: l.sshPort,
        dockerPort: l.dockerPort,
        sshUser: l.sshUser,
        sshPrivateKey: l.sshPrivateKey,
        hostPublicKey: l.hostPublicKey,
        hostKeyFingerprint: l.hostKeyFingerprint,
        dockerNames: l.dockerNames,
        docker: l.docker,
        expiresAt: l.expiresAt,
      };
    } catch (err) {
      throw translate(err, `lease a ${req.image} machine (${req.resourceClass})`);
    }
  }

  async releaseTask(taskId: string): Promise<void> {
    try {
      await this.client.releaseTask(taskId);
    } catch (err) {
      if (err instanceof VmError && err.notFound) return;
      throw translate(err, `release the machine of task ${taskId}`);
    }
  }

  async leasedTasks(): Promise<string[]> {
    return (await this.leases()).map((l) => l.taskId);
  }

  async leases(): Promise<TaskLease[]> {
    try {
      const machines = await this.client.machines();
      return machines
        .filter((m) => m.state === "leased" && m.taskId)
        .map((m) => ({
          taskId: m.taskId!,
          leaseId: m.id,
          expiresAt: new Date(m.leaseExpiresAt ?? 0),
        }));
    } catch (err) {
      throw translate(err, "list machines");
    }
  }

  async renew(leaseId: string): Promise<void> {
    try {
      await this.client.renew(leaseId);
    } catch (err) {
      throw translate(err, `renew lease ${leaseId}`);
    }
  }
}

function translate(err: unknown, what: string): MachineError {
  const reason = err instanceof Error ? err.message : String(err);
  const unreachable = err instanceof VmError && err.serviceUnavailable;
  return new MachineError(
    unreachable ? "DROVER_ERR_MACHINES_UNAVAILABLE" : "DROVER_ERR_MACHINE_FAILED",
    `cannot ${what}: ${reason}`,
    { cause: err },
  );
}
