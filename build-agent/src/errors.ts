/**
 * Errors of the build agent. `infrastructure` separates Drover's or the platform's failures (image
 * missing, Docker down, control plane unreachable) from the user's job failing: the first ends a
 * task as `infrastructure_fail`, the second as `failed`.
 */
export class AgentError extends Error {
  readonly code: string;
  readonly infrastructure: boolean;
  constructor(
    code: string,
    message: string,
    opts: { infrastructure?: boolean; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = "AgentError";
    this.code = code;
    this.infrastructure = opts.infrastructure ?? true;
  }
}

/** Stable codes; never reused. */
export const ErrorCodes = {
  config: "DROVER_ERR_AGENT_CONFIG",
  imageMissing: "DROVER_ERR_IMAGE_MISSING",
  imageAlias: "DROVER_ERR_IMAGE_ALIAS",
  dockerUnavailable: "DROVER_ERR_DOCKER_UNAVAILABLE",
  container: "DROVER_ERR_CONTAINER",
  sandbox: "DROVER_ERR_SANDBOX",
  executorUnsupported: "DROVER_ERR_EXECUTOR_UNSUPPORTED",
  template: "DROVER_ERR_CACHE_KEY_TEMPLATE",
  step: "DROVER_ERR_STEP",
  checkout: "DROVER_ERR_CHECKOUT",
  junit: "DROVER_ERR_JUNIT",
  machine: "DROVER_ERR_MACHINE",
  jobNetwork: "DROVER_ERR_JOB_NETWORK",
  netRules: "DROVER_ERR_NET_RULES",
  stepInput: "DROVER_ERR_STEP_INPUT",
} as const;

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
