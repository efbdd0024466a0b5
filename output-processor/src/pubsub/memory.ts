import type { PubSub } from "./types.js";

/** In-process pub/sub for a single instance (no `REDIS_URL`). Delivery is synchronous. */
export class MemoryPubSub implements PubSub {
  private readonly channels = new Map<string, Set<(message: Buffer) => void>>();
  private closed = false;

  async publish(channel: string, message: string | Buffer): Promise<void> {
    if (this.closed) throw new Error("pubsub closed");
    const set = this.channels.get(channel);
    if (!set) return;
    const bytes = typeof message === "string" ? Buffer.from(message) : message;
    for (const h of [...set]) h(bytes);
  }

  async subscribe(
    channel: string,
    handler: (message: Buffer) => void,
  ): Promise<() => Promise<void>> {
    if (this.closed) throw new Error("pubsub closed");
    // Wrap so the same function can be subscribed twice and removed once each.
    const h = (m: Buffer): void => handler(m);
    let set = this.channels.get(channel);
    if (!set) this.channels.set(channel, (set = new Set()));
    set.add(h);
    return async () => {
      set.delete(h);
      if (set.size === 0 && this.channels.get(channel) === set) this.channels.delete(channel);
    };
  }

  onResync(): void {}

  async close(): Promise<void> {
    this.closed = true;
    this.channels.clear();
  }
}
