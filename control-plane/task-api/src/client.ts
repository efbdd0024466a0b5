/**
 * Typed client for the task API (see `contract.ts`): what a build agent uses to claim its task,
 * report events and move artifacts, test results, caches and workspace layers.
 *
 * One undici `Pool` per control plane. Calls the contract makes idempotent (claim is not; events,
 * tests and every GET are; PUTs of artifacts, caches and layers are, as long as the body can be
 * replayed) are retried on connection errors and 502/503/504 with exponential backoff. Streaming
 * bodies are never retried: the stream is consumed by the first attempt. A claim (single use) is
 * resent only when the connection was refused, i.e. the token never reached the server.
 */
import type { Readable } from "node:stream";
import { connectOptions, tlsFailure, type ClientTls } from "@drover/tls";
import { Pool, type Dispatcher } from "undici";
import {
  claimResponseSchema,
  machineLeaseSchema,
  type ClaimResponse,
  type MachineLeaseInfo,
  type MachineLeaseRequest,
  type TaskEvent,
  type TestCase,
} from "./contract.js";

/** An answer the contract does not allow, or a call that failed after its retries. */
export class TaskApiError extends Error {
  readonly code: string;
  readonly status: number | undefined;
  readonly body: string | undefined;
  constructor(
    code: string,
    message: string,
    opts: { status?: number; body?: string; cause?: unknown } = {},
  ) {
    super(message, { cause: opts.cause });
    this.name = "TaskApiError";
    this.code = code;
    this.status = opts.status;
    this.body = opts.body;
  }
}

export interface TaskApiClientOptions {
  /** The control plane, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** Attempts for idempotent calls (default 4). */
  retries?: number;
  /** First backoff in ms, doubled each retry (default 200). */
  backoffMs?: number;
  /** Per-request headers timeout in ms (default 30s). */
  timeoutMs?: number;
  /** CA an `https://` control plane is verified against (`DROVER_TLS_CA`). */
  tls?: ClientTls;
}

type Body = string | Buffer | Readable;

const RETRY_STATUS = new Set([502, 503, 504]);

export class TaskApiClient {
  private readonly pool: Pool;
  private readonly origin: string;
  private readonly retries: number;
  private readonly backoffMs: number;
  private readonly timeoutMs: number;
  private session: string | undefined;
  private taskId: string | undefined;

  constructor(opts: TaskApiClientOptions) {
    const origin = new URL(opts.url);
    this.pool = new Pool(origin.origin, { connections: 8, connect: connectOptions(opts.tls) });
    this.origin = origin.origin;
    this.retries = opts.retries ?? 4;
    this.backoffMs = opts.backoffMs ?? 200;
    this.timeoutMs = opts.timeoutMs ?? 30_000;
  }

  /** Exchanges the single-use task token for the task and a session (not retried: single use). */
  async claim(token: string): Promise<ClaimResponse> {
    const res = await this.request("POST", "/internal/v1/tasks/claim", {
      body: JSON.stringify({ token }),
      json: true,
      retry: false,
      auth: false,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) {
      throw new TaskApiError(
        res.statusCode === 401 ? "DROVER_ERR_TASK_TOKEN" : "DROVER_ERR_TASK_API",
        `claim answered ${res.statusCode}: ${text.slice(0, 300)}`,
        { status: res.statusCode, body: text },
      );
    }
    const parsed = claimResponseSchema.safeParse(JSON.parse(text));
    if (!parsed.success) {
      throw new TaskApiError(
        "DROVER_ERR_TASK_API",
        `claim answer does not match the contract: ${parsed.error.message}`,
      );
    }
    this.useSession(parsed.data.task.taskId, parsed.data.session);
    return parsed.data;
  }

  /** Sets the session for later calls (done by `claim`; tests and resumed agents call it). */
  useSession(taskId: string, session: string): void {
    this.taskId = taskId;
    this.session = session;
  }

  async sendEvents(events: TaskEvent[]): Promise<void> {
    await this.expect("POST", this.path("events"), [204, 200], {
      body: JSON.stringify({ events }),
      json: true,
    });
  }

  /** Uploads one artifact to `destination` (relative, `/`-separated). */
  async putArtifact(destination: string, body: Body): Promise<void> {
    const q = new URLSearchParams({ path: destination });
    await this.expect("PUT", `${this.path("artifacts")}?${q.toString()}`, [201, 200, 204], {
      body,
    });
  }

  async sendTests(tests: TestCase[]): Promise<void> {
    await this.expect("POST", this.path("tests"), [204, 200], {
      body: JSON.stringify({ tests }),
      json: true,
    });
  }

  /** The first of `keys` that prefix-matches a stored cache (most recent wins), or undefined. */
  async findCache(keys: string[]): Promise<string | undefined> {
    const q = new URLSearchParams();
    for (const k of keys) q.append("keys", k);
    const res = await this.request("GET", `${this.path("caches")}?${q.toString()}`, {});
    const text = await res.body.text();
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) throw this.unexpected("GET caches", res.statusCode, text);
    const key = (JSON.parse(text) as { key?: unknown }).key;
    if (typeof key !== "string") throw this.unexpected("GET caches", res.statusCode, text);
    return key;
  }

  /** The tar stream of a stored cache. */
  async getCache(key: string): Promise<Readable> {
    return this.stream(`${this.path("caches")}/${encodeURIComponent(key)}`);
  }

  /** Stores a cache; false when the key already exists (keys are immutable). */
  async putCache(key: string, tar: Body): Promise<boolean> {
    const res = await this.request("PUT", `${this.path("caches")}/${encodeURIComponent(key)}`, {
      body: tar,
    });
    const text = await res.body.text();
    if (res.statusCode === 409) return false;
    if (res.statusCode === 201 || res.statusCode === 200 || res.statusCode === 204) return true;
    throw this.unexpected("PUT cache", res.statusCode, text);
  }

  /** Stores a workspace layer of this job. */
  async putWorkspaceLayer(tar: Body): Promise<void> {
    await this.expect("PUT", this.path("workspace"), [201, 200, 204], { body: tar });
  }

  /** The workspace layers of this workflow's upstream jobs, in apply order. */
  async listWorkspaceLayers(): Promise<Array<{ id: string }>> {
    const res = await this.request("GET", this.path("workspace"), {});
    const text = await res.body.text();
    if (res.statusCode !== 200) throw this.unexpected("GET workspace", res.statusCode, text);
    const layers = (JSON.parse(text) as { layers?: unknown }).layers;
    if (!Array.isArray(layers)) throw this.unexpected("GET workspace", res.statusCode, text);
    return layers.map((l: { id: unknown }) => ({ id: String(l.id) }));
  }

  async getWorkspaceLayer(id: string): Promise<Readable> {
    return this.stream(`${this.path("workspace")}/${encodeURIComponent(id)}`);
  }

  /**
   * Leases the task's machine (made fresh, or taken from a warm pool): waits until it answers SSH
   * and Docker, up to `timeoutMs` (default 7 minutes, past vm-service's start limit).
   */
  async leaseMachine(
    purpose: MachineLeaseRequest["purpose"],
    timeoutMs = 7 * 60_000,
  ): Promise<MachineLeaseInfo> {
    const res = await this.request("POST", this.path("machine"), {
      body: JSON.stringify({ purpose }),
      json: true,
      timeoutMs,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw this.unexpected("POST machine", res.statusCode, text);
    const parsed = machineLeaseSchema.safeParse(JSON.parse(text));
    if (!parsed.success) throw this.unexpected("POST machine", res.statusCode, text);
    return parsed.data;
  }

  /** Releases (destroys) the task's machine; idempotent. */
  async releaseMachine(): Promise<void> {
    await this.expect("DELETE", this.path("machine"), [204, 200], {});
  }

  async close(): Promise<void> {
    await this.pool.close();
  }

  private path(resource: string): string {
    if (!this.taskId) {
      throw new TaskApiError("DROVER_ERR_TASK_API", "no session: claim the task first");
    }
    return `/internal/v1/tasks/${encodeURIComponent(this.taskId)}/${resource}`;
  }

  private async stream(path: string): Promise<Readable> {
    const res = await this.request("GET", path, {});
    if (res.statusCode !== 200) {
      throw this.unexpected(`GET ${path}`, res.statusCode, await res.body.text());
    }
    return res.body;
  }

  private async expect(
    method: Dispatcher.HttpMethod,
    path: string,
    ok: number[],
    opts: { body?: Body; json?: boolean },
  ): Promise<void> {
    const res = await this.request(method, path, opts);
    const text = await res.body.text();
    if (!ok.includes(res.statusCode))
      throw this.unexpected(`${method} ${path}`, res.statusCode, text);
  }

  private unexpected(what: string, status: number, text: string): TaskApiError {
    const code =
      status === 401 || status === 403 ? "DROVER_ERR_TASK_SESSION" : "DROVER_ERR_TASK_API";
    return new TaskApiError(code, `${what} answered ${status}: ${text.slice(0, 300)}`, {
      status,
      body: text,
    });
  }

  private async request(
    method: Dispatcher.HttpMethod,
    path: string,
    opts: { body?: Body; json?: boolean; retry?: boolean; auth?: boolean; timeoutMs?: number },
  ): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = {};
    if (opts.auth !== false && this.session) headers.authorization = `Bearer ${this.session}`;
    if (opts.json) headers["content-type"] = "application/json";
    else if (opts.body !== undefined) headers["content-type"] = "application/octet-stream";
    const replayable = typeof opts.body === "string" || Buffer.isBuffer(opts.body) || !opts.body;
    // A refused connection never reached the server: even a single-use claim may be resent then.
    const attempts = replayable ? this.retries : 1;
    const idempotent = opts.retry !== false;
    let lastErr: unknown;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const res = await this.pool.request({
          method,
          path,
          headers,
          body: opts.body,
          headersTimeout: opts.timeoutMs ?? this.timeoutMs,
          bodyTimeout: 0,
        });
        if (idempotent && attempt < attempts && RETRY_STATUS.has(res.statusCode)) {
          await res.body.dump();
          lastErr = new TaskApiError(
            "DROVER_ERR_TASK_API",
            `${method} ${path}: ${res.statusCode}`,
            {
              status: res.statusCode,
            },
          );
        } else {
          return res;
        }
      } catch (err) {
        // A certificate problem does not heal by retrying: say which one, now.
        const tls = tlsFailure(err, { peer: `the control plane at ${this.origin}` });
        if (tls) throw tls;
        lastErr = err;
        const refused = (err as { code?: string }).code === "ECONNREFUSED";
        if (attempt >= attempts || (!idempotent && !refused)) break;
      }
      await new Promise((r) => setTimeout(r, this.backoffMs * 2 ** (attempt - 1)));
    }
    if (lastErr instanceof TaskApiError) throw lastErr;
    throw new TaskApiError(
      "DROVER_ERR_TASK_API_UNREACHABLE",
      `${method} ${path} failed after ${attempts} attempt(s): ${lastErr instanceof Error ? lastErr.message : String(lastErr)}`,
      { cause: lastErr },
    );
  }
}
