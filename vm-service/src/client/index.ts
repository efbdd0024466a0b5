/**
 * The typed client of vm-service's API, for the control plane and agents. Errors are `VmError`s
 * carrying the server's code (or `DROVER_ERR_VM_UNREACHABLE` when it cannot be reached).
 */
import { connectOptions, tlsFailure, type ClientTls } from "@drover/tls";
import { Pool } from "undici";
import { VmError, type VmErrorCode } from "../errors.js";
import type { LeaseRequest, MachineLease, MachineSummary } from "../service/leases.js";

export type { LeaseRequest, MachineLease, MachineSummary } from "../service/leases.js";
export { VmError, type VmErrorCode } from "../errors.js";

export interface VmServiceClientOptions {
  /** e.g. `http://127.0.0.1:3000` */
  url: string;
  serviceToken: string;
  /** Per-request timeout; leasing waits for a machine to start, so the default is 7 minutes. */
  timeoutMs?: number;
  /** CA an `https://` vm-service is verified against (`DROVER_TLS_CA`). */
  tls?: ClientTls;
}

export class VmServiceClient {
  private readonly pool: Pool;
  private readonly origin: string;

  constructor(private readonly opts: VmServiceClientOptions) {
    this.origin = new URL(opts.url).origin;
    // A cold lease holds its connection for minutes: a small pool would queue every lease behind it.
    this.pool = new Pool(this.origin, { connections: 256, connect: connectOptions(opts.tls) });
  }

  private async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const timeout = this.opts.timeoutMs ?? 7 * 60_000;
    let res;
    try {
      res = await this.pool.request({
        method: method as "GET",
        path,
        headers: {
          authorization: `Bearer ${this.opts.serviceToken}`,
          ...(body === undefined ? {} : { "content-type": "application/json" }),
        },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        headersTimeout: timeout,
        bodyTimeout: timeout,
      });
    } catch (err) {
      const tls = tlsFailure(err, { peer: `vm-service at ${this.origin}` });
      if (tls) throw tls;
      throw new VmError(
        "DROVER_ERR_VM_UNREACHABLE",
        `cannot reach vm-service at ${this.origin}: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
    const text = await res.body.text();
    if (res.statusCode >= 400) {
      let parsed: { code?: string; message?: string } = {};
      try {
        parsed = JSON.parse(text) as typeof parsed;
      } catch {
        // not JSON
      }
      const code = (
        parsed.code?.startsWith("DROVER_ERR_VM_") ? parsed.code : "DROVER_ERR_VM_INTERNAL"
      ) as VmErrorCode;
      throw new VmError(code, parsed.message ?? `vm-service answered ${res.statusCode}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  lease(req: LeaseRequest): Promise<MachineLease> {
    return this.call("POST", "/v1/leases", req);
  }

  get(id: string): Promise<MachineLease> {
    return this.call("GET", `/v1/leases/${encodeURIComponent(id)}`);
  }

  renew(id: string, leaseSeconds?: number): Promise<MachineLease> {
    return this.call(
      "POST",
      `/v1/leases/${encodeURIComponent(id)}/renew`,
      leaseSeconds ? { leaseSeconds } : {},
    );
  }

  release(id: string): Promise<void> {
    return this.call("DELETE", `/v1/leases/${encodeURIComponent(id)}`);
  }

  releaseTask(taskId: string): Promise<void> {
    return this.call("DELETE", `/v1/tasks/${encodeURIComponent(taskId)}/lease`);
  }

  async machines(): Promise<MachineSummary[]> {
    return (await this.call<{ items: MachineSummary[] }>("GET", "/v1/machines")).items;
  }

  async health(): Promise<{ status: string; provider: string; detail: string }> {
    return this.call("GET", "/healthz");
  }

  close(): Promise<void> {
    return this.pool.close();
  }
}
