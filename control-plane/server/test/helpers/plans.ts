/** Hand-built pipeline plans for engine and API tests. */
import type { JobPlan, JobRequirement, PipelinePlan } from "@drover/config-compiler";

export function job(
  name: string,
  opts: {
    requires?: Array<string | JobRequirement>;
    type?: "build" | "approval";
    parallelism?: number;
    command?: string;
    contexts?: string[];
  } = {},
): JobPlan {
  const type = opts.type ?? "build";
  return {
    name,
    definition: name,
    type,
    requires: (opts.requires ?? []).map((r) =>
      typeof r === "string" ? { job: r, statuses: ["success"] } : r,
    ),
    contexts: opts.contexts ?? [],
    parallelism: opts.parallelism ?? 1,
    ...(type === "build"
      ? {
          executor: {
            type: "docker" as const,
            images: [{ image: "drover/debian:bookworm", environment: {} }],
          },
        }
      : {}),
    steps:
      type === "build"
        ? [
            {
              type: "run",
              name: `run ${name}`,
              when: "on_success",
              command: opts.command ?? `echo ${name}`,
              environment: {},
              background: false,
              noOutputTimeoutMs: 600_000,
            },
          ]
        : [],
    environment: { JOB: name },
    workingDirectory: "~/project",
    resourceClass: "medium",
  };
}

export function plan(...workflows: Array<{ name: string; jobs: JobPlan[] }>): PipelinePlan {
  return { version: "2.1", parameters: {}, workflows };
}
