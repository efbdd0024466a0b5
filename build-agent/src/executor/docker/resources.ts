/** CPUs and memory (GiB) per CircleCI docker resource class. */
const CLASSES: Record<string, { cpus: number; memGiB: number }> = {
  small: { cpus: 1, memGiB: 2 },
  medium: { cpus: 2, memGiB: 4 },
  "medium+": { cpus: 3, memGiB: 6 },
  large: { cpus: 4, memGiB: 8 },
  xlarge: { cpus: 8, memGiB: 16 },
  "2xlarge": { cpus: 16, memGiB: 32 },
  "2xlarge+": { cpus: 20, memGiB: 40 },
};

export interface ContainerResources {
  nanoCpus: number;
  memoryBytes: number;
}

/** Limits for a resource class, CPUs clamped to the host; unknown classes run as `medium`. */
export function resourcesFor(resourceClass: string, hostCpus: number): ContainerResources {
  const c = CLASSES[resourceClass] ?? CLASSES.medium ?? { cpus: 2, memGiB: 4 };
  const cpus = Math.max(0.5, Math.min(c.cpus, hostCpus));
  return { nanoCpus: Math.round(cpus * 1e9), memoryBytes: c.memGiB * 1024 ** 3 };
}
