/** CPU (MHz) and memory (MB) Nomad reserves for a task of a resource class. */
export interface ResourceShape {
  cpu: number;
  memoryMB: number;
}

/**
 * CircleCI's Docker resource classes (vCPUs / GB RAM: small 1/2, medium 2/4, medium+ 3/6,
 * large 4/8, xlarge 8/16, 2xlarge 16/32, 2xlarge+ 20/40), as Nomad CPU shares in MHz at
 * `mhzPerCpu` per vCPU.
 */
export function dockerResourceClasses(mhzPerCpu: number): Record<string, ResourceShape> {
  const table: Array<[string, number, number]> = [
    ["small", 1, 2],
    ["medium", 2, 4],
    ["medium+", 3, 6],
    ["large", 4, 8],
    ["xlarge", 8, 16],
    ["2xlarge", 16, 32],
    ["2xlarge+", 20, 40],
  ];
  return Object.fromEntries(
    table.map(([name, cpus, gb]) => [name, { cpu: cpus * mhzPerCpu, memoryMB: gb * 1024 }]),
  );
}

/** A machine executor's steps run on a leased VM; its Nomad task only runs the agent. */
export const MACHINE_AGENT_SHAPE: ResourceShape = { cpu: 500, memoryMB: 512 };
