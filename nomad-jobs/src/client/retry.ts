import type { RetryHandler } from "undici";

export interface RetryPolicy {
  maxRetries: number;
  minDelayMs: number;
  maxDelayMs: number;
  /** 5xx and dropped connections are retried only for idempotent calls. */
  idempotent: boolean;
}

/** Errors where the request certainly never reached Nomad: safe to resend any call. */
const NOT_SENT = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "UND_ERR_CONNECT_TIMEOUT"]);
const DROPPED = new Set(["ECONNRESET", "EPIPE", "UND_ERR_SOCKET", "UND_ERR_CLOSED"]);

/**
 * The retry decision for undici's retry interceptor: 429 (Nomad's per-client connection limit)
 * always, honouring Retry-After; 5xx and dropped connections for idempotent calls only;
 * exponential backoff with jitter.
 */
export function nomadRetry(policy: RetryPolicy): RetryHandler.RetryCallback {
  return (err, { state }, cb) => {
    const e = err as Error & {
      statusCode?: number;
      code?: string;
      headers?: Record<string, string | string[] | undefined>;
    };
    const status = e.statusCode;
    let retryable: boolean;
    if (status !== undefined && status !== null) {
      retryable = status === 429 || (status >= 500 && policy.idempotent);
    } else {
      const code = e.code ?? (e.cause as { code?: string } | undefined)?.code ?? "";
      retryable = NOT_SENT.has(code) || (DROPPED.has(code) && policy.idempotent);
    }
    if (!retryable || state.counter > policy.maxRetries) {
      cb(err);
      return;
    }
    const retryAfter = Number(
      Array.isArray(e.headers?.["retry-after"])
        ? e.headers["retry-after"][0]
        : e.headers?.["retry-after"],
    );
    const delay =
      Number.isFinite(retryAfter) && retryAfter > 0
        ? Math.min(retryAfter * 1000, policy.maxDelayMs)
        : jitteredBackoffMs(state.counter, policy.minDelayMs, policy.maxDelayMs);
    setTimeout(() => cb(null), delay).unref();
  };
}

/**
 * Exponential backoff for the `attempt`-th retry (1-based): `minMs * 2^(attempt-1)` capped at
 * `maxMs`, then jittered uniformly into its upper half. Shared by request retries and the event
 * stream's reconnects.
 */
export function jitteredBackoffMs(attempt: number, minMs: number, maxMs: number): number {
  const backoff = Math.min(minMs * 2 ** Math.max(0, attempt - 1), maxMs);
  return backoff / 2 + Math.random() * (backoff / 2);
}
