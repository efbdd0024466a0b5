/**
 * The fan-out backbone between output-processor instances: one channel per job (and per project
 * for status). Delivery is at most once and in publish order per channel; a subscriber that may
 * have missed messages (a Redis reconnect) is told through `onResync` and catches up from history.
 *
 * `subscribe` resolves once the subscription is active: every message published after that is
 * delivered. The returned function unsubscribes that handler (idempotent). `close` ends all
 * subscriptions and connections; further calls fail.
 */
export interface PubSub {
  publish(channel: string, message: string | Buffer): Promise<void>;
  /** Handlers get the message's UTF-8 bytes: a fan-out can pass them on without decoding. */
  subscribe(channel: string, handler: (message: Buffer) => void): Promise<() => Promise<void>>;
  /** Called after the backbone reconnected: messages may have been lost in between. */
  onResync(listener: () => void): void;
  close(): Promise<void>;
}
