import { Redis, type RedisOptions } from "ioredis";
import type { Logger } from "pino";
import { OutputError } from "../errors.js";
import type { PubSub } from "./types.js";

/**
 * Redis pub/sub over two ioredis connections (one publishes, one subscribes). Channels are
 * subscribed in Redis while at least one local handler wants them.
 */
export class RedisPubSub implements PubSub {
  private readonly pub: Redis;
  private readonly sub: Redis;
  private readonly handlers = new Map<string, Set<(message: Buffer) => void>>();
  private readonly pending = new Map<string, Promise<unknown>>();
  private readonly resync = new Set<() => void>();
  private everReady = false;

  constructor(url: string, options: { logger?: Logger; redis?: RedisOptions } = {}) {
    const opts: RedisOptions = { maxRetriesPerRequest: null, ...options.redis };
    this.pub = new Redis(url, opts);
    this.sub = new Redis(url, opts);
    for (const c of [this.pub, this.sub]) {
      c.on("error", (err) => options.logger?.warn({ err }, "redis pubsub connection error"));
    }
    this.sub.on("ready", () => {
      if (this.everReady) {
        // Once at once, and once after resubscribing has surely finished.
        for (const l of this.resync) l();
        setTimeout(() => {
          for (const l of this.resync) l();
        }, 1000).unref();
      }
      this.everReady = true;
    });
    this.sub.on("messageBuffer", (channel: Buffer, message: Buffer) => {
      const set = this.handlers.get(channel.toString());
      if (!set) return;
      for (const h of [...set]) h(message);
    });
  }

  /** The publishing connection, shared with the live window. */
  get client(): Redis {
    return this.pub;
  }

  async publish(channel: string, message: string | Buffer): Promise<void> {
    try {
      await this.pub.publish(channel, message);
    } catch (err) {
      throw new OutputError("DROVER_ERR_OUTPUT_PUBSUB", `publish to ${channel} failed`, {
        cause: err,
      });
    }
  }

  async subscribe(
    channel: string,
    handler: (message: Buffer) => void,
  ): Promise<() => Promise<void>> {
    const h = (m: Buffer): void => handler(m);
    let set = this.handlers.get(channel);
    if (!set) {
      this.handlers.set(channel, (set = new Set()));
      this.pending.set(channel, this.sub.subscribe(channel));
    }
    set.add(h);
    await this.pending.get(channel);
    let done = false;
    return async () => {
      if (done) return;
      done = true;
      set.delete(h);
      if (set.size === 0 && this.handlers.get(channel) === set) {
        this.handlers.delete(channel);
        this.pending.delete(channel);
        await this.sub.unsubscribe(channel).catch(() => undefined);
      }
    };
  }

  onResync(listener: () => void): void {
    this.resync.add(listener);
  }

  async close(): Promise<void> {
    this.handlers.clear();
    this.resync.clear();
    await Promise.allSettled([this.pub.quit(), this.sub.quit()]);
  }
}
