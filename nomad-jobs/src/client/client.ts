import { readFileSync } from "node:fs";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { tlsFailure } from "@drover/tls";
import { Pool, interceptors, type Dispatcher } from "undici";
import { nomadConfigSchema, type NomadConfig, type NomadConfigInput } from "../config.js";
import { NomadError, NomadErrorCode, codeForStatus } from "../errors.js";
import { Agent } from "./agent.js";
import { Allocations } from "./allocations.js";
import { EventStream } from "./event-stream.js";
import { Jobs } from "./jobs.js";
import { Logs } from "./logs.js";
import { Nodes } from "./nodes.js";
import { nomadRetry, type RetryPolicy } from "./retry.js";
import type { QueryOptions, ResponseMeta, Result, WriteOptions } from "./types.js";

type QueryValue = string | number | boolean | undefined | readonly string[];

/** One HTTP call as the resource files describe it. */
export interface CallRequest {
  method: "GET" | "PUT" | "POST" | "DELETE";
  path: string;
  query?: Record<string, QueryValue>;
  body?: unknown;
  options?: QueryOptions | WriteOptions;
  /** Safe to repeat after a 5xx or a dropped connection. */
  idempotent: boolean;
  /** Talk to another agent (e.g. a Nomad client node for logs) instead of the configured one. */
  address?: string;
}

/** Observes each finished JSON call: `wireMs` is the time from dispatch to the full body. */
export type CallObserver = (info: {
  method: string;
  path: string;
  status: number;
  wireMs: number;
}) => void;

export interface StreamResponse {
  body: Readable;
  meta: ResponseMeta;
}

const CONNECTION_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ENOTFOUND",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EPIPE",
  "EAI_AGAIN",
  "UND_ERR_SOCKET",
  "UND_ERR_CLOSED",
  "UND_ERR_CONNECT_TIMEOUT",
  "ERR_TLS_CERT_ALTNAME_INVALID",
  "DEPTH_ZERO_SELF_SIGNED_CERT",
  "SELF_SIGNED_CERT_IN_CHAIN",
  "UNABLE_TO_VERIFY_LEAF_SIGNATURE",
]);

interface PoolPair {
  /** For streams (event stream, logs): never retried transparently. */
  raw: Pool;
  /** For JSON calls: the retry interceptor composed on the same pool. */
  retrying: Dispatcher;
}

/**
 * Nomad HTTP API client: one undici Pool per Nomad address, resources as properties
 * (`client.jobs.register(job, opts)`), every call returning `{ data, meta }`.
 */
export class NomadClient {
  readonly config: NomadConfig;
  readonly jobs: Jobs;
  readonly allocations: Allocations;
  readonly nodes: Nodes;
  readonly agent: Agent;
  readonly events: EventStream;
  readonly logs: Logs;
  readonly logger: Logger | undefined;
  readonly #onCall: CallObserver | undefined;
  readonly #pools = new Map<string, PoolPair>();
  readonly #tls: {
    ca?: string;
    cert?: string;
    key?: string;
    servername?: string;
    rejectUnauthorized?: boolean;
  };
  #closed = false;

  constructor(
    config: NomadConfig | NomadConfigInput = {},
    deps: { logger?: Logger; onCall?: CallObserver } = {},
  ) {
    const parsed = nomadConfigSchema.safeParse(config);
    if (!parsed.success) {
      const where = parsed.error.issues
        .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
        .join("; ");
      throw new NomadError(NomadErrorCode.Config, `invalid Nomad configuration: ${where}`, {
        cause: parsed.error,
      });
    }
    this.config = parsed.data;
    this.logger = deps.logger?.child({ component: "nomad-client" });
    this.#onCall = deps.onCall;
    this.#tls = {};
    try {
      if (this.config.caCert) this.#tls.ca = readFileSync(this.config.caCert, "utf8");
      if (this.config.clientCert) this.#tls.cert = readFileSync(this.config.clientCert, "utf8");
      if (this.config.clientKey) this.#tls.key = readFileSync(this.config.clientKey, "utf8");
    } catch (err) {
      throw new NomadError(NomadErrorCode.Config, `cannot read Nomad TLS files: ${String(err)}`, {
        cause: err,
      });
    }
    if (this.config.tlsServerName) this.#tls.servername = this.config.tlsServerName;
    if (this.config.skipVerify) this.#tls.rejectUnauthorized = false;
    this.jobs = new Jobs(this);
    this.allocations = new Allocations(this);
    this.nodes = new Nodes(this);
    this.agent = new Agent(this);
    this.events = new EventStream(this);
    this.logs = new Logs(this);
  }

  /** The pool for an address (created on first use, kept until close). */
  #pool(address?: string): PoolPair {
    const origin = new URL(address ?? this.config.address).origin;
    let pair = this.#pools.get(origin);
    if (!pair) {
      if (this.#closed) throw new NomadError(NomadErrorCode.Config, "Nomad client is closed");
      const raw = new Pool(origin, {
        connections: this.config.connections,
        connect: { timeout: this.config.connectTimeoutMs, ...this.#tls },
        // Blocking queries and streams set their own timeouts per request.
        headersTimeout: 0,
        bodyTimeout: 0,
      });
      const retrying = raw.compose(interceptors.retry({ throwOnError: false }));
      pair = { raw, retrying };
      this.#pools.set(origin, pair);
    }
    return pair;
  }

  #url(req: CallRequest): string {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(req.query ?? {})) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const item of v) params.append(k, item);
      else params.append(k, String(v));
    }
    const o = req.options ?? {};
    const namespace = o.namespace ?? this.config.namespace;
    const region = o.region ?? this.config.region;
    if (namespace !== undefined && !params.has("namespace")) params.set("namespace", namespace);
    if (region !== undefined) params.set("region", region);
    if ("index" in o && o.index !== undefined) params.set("index", String(o.index));
    if ("waitMs" in o && o.waitMs !== undefined) params.set("wait", `${Math.round(o.waitMs)}ms`);
    if ("stale" in o && o.stale) params.set("stale", "");
    if ("idempotencyToken" in o && o.idempotencyToken !== undefined) {
      params.set("idempotency_token", o.idempotencyToken);
    }
    const qs = params.toString();
    return qs ? `${req.path}?${qs}` : req.path;
  }

  #headers(req: CallRequest): Record<string, string> {
    const headers: Record<string, string> = { accept: "application/json" };
    const token = req.options?.token ?? this.config.token;
    if (token) headers["x-nomad-token"] = token;
    if (req.body !== undefined) headers["content-type"] = "application/json";
    return headers;
  }

  #headersTimeout(req: CallRequest): number {
    const o = req.options ?? {};
    if ("index" in o && o.index !== undefined) {
      // Nomad waits up to `wait` (default 5m) plus up to wait/16 of jitter.
      const wait = Math.min(o.waitMs ?? 300_000, 600_000);
      return wait + wait / 16 + this.config.requestTimeoutMs;
    }
    return this.config.requestTimeoutMs;
  }

  /** Performs a JSON call; non-2xx answers become `NomadError`s. */
  async call<T>(req: CallRequest): Promise<Result<T>> {
    const { retrying } = this.#pool(req.address);
    const path = this.#url(req);
    const policy: RetryPolicy = { ...this.config.retry, idempotent: req.idempotent };
    const body = req.body === undefined ? null : JSON.stringify(req.body);
    const headers = this.#headers(req);
    const started = performance.now();
    let res: Dispatcher.ResponseData;
    try {
      res = await retrying.request({
        method: req.method,
        path,
        headers,
        body,
        signal: req.options?.signal,
        headersTimeout: this.#headersTimeout(req),
        bodyTimeout: this.config.requestTimeoutMs,
        retryOptions: { retry: nomadRetry(policy), throwOnError: false },
      } as Dispatcher.RequestOptions);
    } catch (err) {
      throw this.#transportError(err, req);
    }
    const text = await res.body.text().catch((err: unknown) => {
      throw this.#transportError(err, req);
    });
    const wireMs = performance.now() - started;
    this.#onCall?.({ method: req.method, path: req.path, status: res.statusCode, wireMs });
    this.logger?.debug(
      { method: req.method, path: req.path, status: res.statusCode, ms: wireMs },
      "nomad call",
    );
    if (res.statusCode < 200 || res.statusCode >= 300) {
      throw this.#statusError(res.statusCode, text, req);
    }
    let data: T;
    try {
      data = (text === "" ? null : JSON.parse(text)) as T;
    } catch (err) {
      throw new NomadError(
        NomadErrorCode.Decode,
        `${req.method} ${req.path}: invalid JSON answer`,
        {
          status: res.statusCode,
          body: text.slice(0, 500),
          method: req.method,
          path: req.path,
          cause: err,
        },
      );
    }
    return { data, meta: readMeta(res.headers) };
  }

  /** Opens a streaming response (event stream, logs); the caller consumes and destroys `body`. */
  async stream(req: CallRequest): Promise<StreamResponse> {
    const { raw } = this.#pool(req.address);
    let res: Dispatcher.ResponseData;
    try {
      res = await raw.request({
        method: req.method,
        path: this.#url(req),
        headers: this.#headers(req),
        signal: req.options?.signal,
        headersTimeout: this.config.requestTimeoutMs,
        bodyTimeout: 0,
      });
    } catch (err) {
      throw this.#transportError(err, req);
    }
    if (res.statusCode < 200 || res.statusCode >= 300) {
      const text = await res.body.text().catch(() => "");
      throw this.#statusError(res.statusCode, text, req);
    }
    return { body: res.body, meta: readMeta(res.headers) };
  }

  #statusError(status: number, body: string, req: CallRequest): NomadError {
    const trimmed = body.trim();
    return new NomadError(
      codeForStatus(status),
      `Nomad ${req.method} ${req.path} answered ${status}: ${trimmed.slice(0, 300) || "(no body)"}`,
      { status, body: trimmed, method: req.method, path: req.path },
    );
  }

  #transportError(err: unknown, req: CallRequest): unknown {
    if (req.options?.signal?.aborted) return req.options.signal.reason ?? err;
    if (err instanceof NomadError) return err;
    const code = errorCode(err);
    const where = `${req.method} ${req.path}`;
    if (code === "UND_ERR_HEADERS_TIMEOUT" || code === "UND_ERR_BODY_TIMEOUT") {
      return new NomadError(NomadErrorCode.Timeout, `Nomad did not answer ${where} in time`, {
        method: req.method,
        path: req.path,
        cause: err,
      });
    }
    const address = req.address ?? this.config.address;
    const tls = tlsFailure(err, { peer: `Nomad at ${address}`, caSetting: "NOMAD_CACERT" });
    if (tls) {
      return new NomadError(NomadErrorCode.Unreachable, `${tls.message} (${where})`, {
        method: req.method,
        path: req.path,
        cause: tls,
      });
    }
    if (
      code &&
      (CONNECTION_ERRORS.has(code) || code.startsWith("ERR_TLS") || code.includes("CERT"))
    ) {
      return new NomadError(
        NomadErrorCode.Unreachable,
        `cannot reach Nomad at ${req.address ?? this.config.address} (${code}) for ${where}`,
        { method: req.method, path: req.path, cause: err },
      );
    }
    return new NomadError(NomadErrorCode.Unreachable, `${where} failed: ${String(err)}`, {
      method: req.method,
      path: req.path,
      cause: err,
    });
  }

  /** Closes every pool; in-flight calls fail. */
  async close(): Promise<void> {
    this.#closed = true;
    const pools = [...this.#pools.values()];
    this.#pools.clear();
    await Promise.all(pools.map((p) => p.raw.destroy().catch(() => undefined)));
  }
}

function errorCode(err: unknown): string | undefined {
  let e: unknown = err;
  for (let depth = 0; depth < 4 && e && typeof e === "object"; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === "string" && code !== "UND_ERR_REQ_RETRY") return code;
    e = (e as { cause?: unknown }).cause;
  }
  return undefined;
}

function header(
  headers: Record<string, string | string[] | undefined>,
  name: string,
): string | undefined {
  const v = headers[name];
  return Array.isArray(v) ? v[0] : v;
}

export function readMeta(headers: Record<string, string | string[] | undefined>): ResponseMeta {
  return {
    lastIndex: Number(header(headers, "x-nomad-index") ?? 0) || 0,
    knownLeader: header(headers, "x-nomad-knownleader") === "true",
    lastContact: Number(header(headers, "x-nomad-lastcontact") ?? 0) || 0,
  };
}
