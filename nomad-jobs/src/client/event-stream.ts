import { setTimeout as sleep } from "node:timers/promises";
import { NomadError } from "../errors.js";
import type { NomadClient } from "./client.js";
import { NdjsonDecoder } from "./decode.js";
import { jitteredBackoffMs } from "./retry.js";
import type { EventBatch, NomadEvent } from "./types.js";

export interface EventStreamOptions {
  /** `Topic` or `Topic:FilterKey`, e.g. `Job:drover-x`, `Allocation:drover-x`, `Allocation`. */
  topics: readonly string[];
  /** Deliver events after this index (0: everything still in the server's buffer). */
  index?: number;
  namespace?: string;
  region?: string;
  token?: string;
  signal?: AbortSignal;
  /** Reconnect backoff; `maxAttempts` consecutive failures end the stream with the last error. */
  reconnect?: { minDelayMs?: number; maxDelayMs?: number; maxAttempts?: number };
  /** No byte (not even a `{}` heartbeat, sent every 10s by Nomad) for this long: reconnect. */
  idleTimeoutMs?: number;
  /** Called before each reconnect. */
  onReconnect?: (info: { attempt: number; index: number; error: unknown }) => void;
}

/** A resumable subscription: iterate it for event batches; it reconnects from `lastIndex`. */
export class EventSubscription implements AsyncIterable<EventBatch> {
  #lastIndex: number;
  #reconnects = 0;

  constructor(
    private readonly client: NomadClient,
    private readonly opts: EventStreamOptions,
  ) {
    this.#lastIndex = opts.index ?? 0;
  }

  /** Index of the last event delivered. */
  get lastIndex(): number {
    return this.#lastIndex;
  }

  /** How many times the stream reconnected. */
  get reconnects(): number {
    return this.#reconnects;
  }

  async *[Symbol.asyncIterator](): AsyncIterator<EventBatch> {
    const { signal } = this.opts;
    const minDelay = this.opts.reconnect?.minDelayMs ?? 250;
    const maxDelay = this.opts.reconnect?.maxDelayMs ?? 10_000;
    const maxAttempts = this.opts.reconnect?.maxAttempts ?? Infinity;
    const idleMs = this.opts.idleTimeoutMs ?? 35_000;
    let failures = 0;
    while (!signal?.aborted) {
      const attempt = new AbortController();
      const onAbort = (): void => attempt.abort(signal?.reason);
      signal?.addEventListener("abort", onAbort, { once: true });
      let idle: NodeJS.Timeout | undefined;
      const arm = (): void => {
        clearTimeout(idle);
        idle = setTimeout(() => attempt.abort(new Error("event stream idle")), idleMs);
      };
      let error: unknown = new Error("event stream ended");
      try {
        arm();
        const { body } = await this.client.stream({
          method: "GET",
          path: "/v1/event/stream",
          query: {
            topic: this.opts.topics,
            index: this.#lastIndex > 0 ? this.#lastIndex : undefined,
          },
          options: {
            namespace: this.opts.namespace,
            region: this.opts.region,
            token: this.opts.token,
            signal: attempt.signal,
          },
          idempotent: true,
        });
        const decoder = new NdjsonDecoder();
        try {
          for await (const chunk of body as AsyncIterable<Buffer>) {
            arm();
            failures = 0;
            for (const value of decoder.push(chunk)) {
              const batch = this.#accept(value);
              if (batch) yield batch;
            }
          }
        } finally {
          body.destroy();
        }
      } catch (err) {
        if (signal?.aborted) return;
        if (err instanceof NomadError && !err.transient) throw err;
        error = err;
      } finally {
        clearTimeout(idle);
        signal?.removeEventListener("abort", onAbort);
      }
      failures++;
      if (failures > maxAttempts) throw error;
      this.#reconnects++;
      this.opts.onReconnect?.({ attempt: failures, index: this.#lastIndex, error });
      try {
        await sleep(jitteredBackoffMs(failures, minDelay, maxDelay), undefined, { signal });
      } catch {
        return;
      }
    }
  }

  /** Drops heartbeats and events already delivered before a reconnect. */
  #accept(value: unknown): EventBatch | undefined {
    const v = value as Partial<EventBatch>;
    if (!v || !Array.isArray(v.Events) || v.Events.length === 0) return undefined;
    const fresh = v.Events.filter((e: NomadEvent) => e.Index > this.#lastIndex);
    if (fresh.length === 0) return undefined;
    const index = Math.max(v.Index ?? 0, ...fresh.map((e) => e.Index));
    this.#lastIndex = index;
    return { Index: index, Events: fresh };
  }
}

/** The /v1/event/stream endpoint. */
export class EventStream {
  constructor(private readonly client: NomadClient) {}

  /** Subscribe opens a resumable event subscription (lazily, on first iteration). */
  subscribe(opts: EventStreamOptions): EventSubscription {
    return new EventSubscription(this.client, opts);
  }
}
