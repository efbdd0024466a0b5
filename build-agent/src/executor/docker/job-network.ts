import { randomBytes } from "node:crypto";
import type Docker from "dockerode";

/**
 * Every job bridge's interface name starts with this (`drvjob` + 9 hex = 15 characters, the
 * kernel's limit), so host firewall rules can match all job networks with one `drvjob+` pattern.
 */
export const JOB_BRIDGE_PREFIX = "drvjob";

export interface JobNetwork {
  id: string;
  name: string;
  /** The bridge's interface name on the engine's host. */
  bridge: string;
}

/**
 * Creates a user-defined bridge network for one job. Docker isolates user-defined bridges from
 * each other and from the default bridge (its DOCKER-ISOLATION chains), so jobs cannot reach each
 * other's containers; `labels` let the sweeper remove it when its agent dies.
 */
export async function createJobNetwork(
  docker: Docker,
  taskId: string,
  labels: Record<string, string>,
): Promise<JobNetwork> {
  const suffix = randomBytes(5).toString("hex").slice(0, 9);
  const name = `drover-job-${taskId.replace(/[^a-zA-Z0-9_.-]/g, "-").slice(0, 60)}-${suffix}`;
  const bridge = `${JOB_BRIDGE_PREFIX}${suffix}`;
  const network = await docker.createNetwork({
    Name: name,
    Driver: "bridge",
    CheckDuplicate: true,
    Labels: labels,
    Options: { "com.docker.network.bridge.name": bridge },
  });
  return { id: network.id, name, bridge };
}

/** Removes a network; one already gone is fine. */
export async function removeNetwork(docker: Docker, id: string): Promise<void> {
  await docker
    .getNetwork(id)
    .remove()
    .catch((err: { statusCode?: number }) => {
      if (err.statusCode !== 404) throw err;
    });
}
