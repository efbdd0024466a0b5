/** Stable error codes of vm-service. Never reused. */
export type VmErrorCode =
  /** The provider refused or failed a call; `kind` says whether a retry may help. */
  | "DROVER_ERR_VM_PROVIDER"
  /** A machine did not become ready (SSH and Docker answering) in time. */
  | "DROVER_ERR_VM_NOT_READY"
  /** Invalid input to vm-service (a body field, a config value). */
  | "DROVER_ERR_VM_INVALID"
  /** No such lease or machine, or not visible to the caller. */
  | "DROVER_ERR_VM_NOT_FOUND"
  /** The API call carried no valid service token (401). */
  | "DROVER_ERR_VM_UNAUTHENTICATED"
  /** vm-service failed in a way it did not expect (500). */
  | "DROVER_ERR_VM_INTERNAL"
  /** vm-service could not be reached (the client's own error). */
  | "DROVER_ERR_VM_UNREACHABLE";

/** Base error of vm-service. */
export class VmError extends Error {
  constructor(
    readonly code: VmErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = "VmError";
  }

  /** vm-service itself cannot be used: unreachable, or it refused the service token. */
  get serviceUnavailable(): boolean {
    return (
      this.code === "DROVER_ERR_VM_UNREACHABLE" || this.code === "DROVER_ERR_VM_UNAUTHENTICATED"
    );
  }

  /** No such lease or machine. */
  get notFound(): boolean {
    return this.code === "DROVER_ERR_VM_NOT_FOUND";
  }
}

/** Why a provider call failed: `capacity`/`quota`/`throttled` may pass; `config` will not. */
export type ProviderFailureKind = "capacity" | "quota" | "throttled" | "config" | "unavailable";

export class ProviderError extends VmError {
  constructor(
    readonly provider: string,
    readonly kind: ProviderFailureKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super("DROVER_ERR_VM_PROVIDER", `${provider}: ${message}`, options);
    this.name = "ProviderError";
  }
}
