import type { Redis } from "ioredis";
import type { LogEntry, StoredFrame } from "./types.js";

/**
 * The last entries of each live task, shared by every instance, so a late subscriber catches up
 * without touching the durable store. Appended after the durable store and before publishing.
 * Entries expire `ttlSeconds` after the task's last append.
 */
export interface LiveWindow {
  append(taskId: string, entries: StoredFrame[]): Promise<void>;
  /**
   * Entries with seq >= `fromSeq`, up to `limit`, or null when the window does not reach back to
   * `fromSeq` (the caller then reads the durable store).
   */
  read(taskId: string, fromSeq: number, limit: number): Promise<LogEntry[] | null>;
  close(): Promise<void>;
}

export interface LiveWindowOptions {
  /** Entries kept per task (default 2048). */
  maxEntries?: number;
  ttlSeconds?: number;
}

/** In-process window, for a single instance without Redis. */
export class MemoryLiveWindow implements LiveWindow {
  private readonly tasks = new Map<string, { entries: StoredFrame[]; timer: NodeJS.Timeout }>();
  private readonly max: number;
  private readonly ttlMs: number;

  constructor(opts: LiveWindowOptions = {}) {
    this.max = opts.maxEntries ?? 2048;
    this.ttlMs = (opts.ttlSeconds ?? 3600) * 1000;
  }

  async append(taskId: string, entries: StoredFrame[]): Promise<void> {
    let t = this.tasks.get(taskId);
    if (t) clearTimeout(t.timer);
    else
      this.tasks.set(taskId, (t = { entries: [], timer: undefined as unknown as NodeJS.Timeout }));
    t.entries.push(...entries);
    if (t.entries.length > this.max) t.entries.splice(0, t.entries.length - this.max);
    t.timer = setTimeout(() => this.tasks.delete(taskId), this.ttlMs);
    t.timer.unref();
  }

  async read(taskId: string, fromSeq: number, limit: number): Promise<LogEntry[] | null> {
    const t = this.tasks.get(taskId);
    const first = t?.entries[0];
    if (!t || !first || first.seq > fromSeq) return null;
    const i = fromSeq - first.seq;
    return t.entries.slice(i, i + limit);
  }

  async close(): Promise<void> {
    for (const t of this.tasks.values()) clearTimeout(t.timer);
    this.tasks.clear();
  }
}

/** Redis window: a sorted set per task scored by seq, trimmed and expired in the same round trip. */
export class RedisLiveWindow implements LiveWindow {
  private readonly max: number;
  private readonly ttl: number;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    opts: LiveWindowOptions = {},
  ) {
    this.max = opts.maxEntries ?? 2048;
    this.ttl = opts.ttlSeconds ?? 3600;
  }

  private key(taskId: string): string {
    return `${this.prefix}window:${taskId}`;
  }

  async append(taskId: string, entries: StoredFrame[]): Promise<void> {
    if (entries.length === 0) return;
    const key = this.key(taskId);
    const args: string[] = [];
    for (const e of entries) args.push(String(e.seq), JSON.stringify(e));
    await this.redis
      .multi()
      .zadd(key, ...(args as [string, string]))
      .zremrangebyrank(key, 0, -this.max - 1)
      .expire(key, this.ttl)
      .exec();
  }

  async read(taskId: string, fromSeq: number, limit: number): Promise<LogEntry[] | null> {
    const key = this.key(taskId);
    const res = await this.redis
      .multi()
      .zrange(key, "0", "0", "WITHSCORES")
      .zrangebyscore(key, fromSeq, "+inf", "LIMIT", 0, limit)
      .exec();
    const head = res?.[0]?.[1] as string[] | undefined;
    const rows = res?.[1]?.[1] as string[] | undefined;
    if (!head || head.length < 2 || Number(head[1]) > fromSeq || !rows) return null;
    return rows.map((r) => JSON.parse(r) as LogEntry);
  }

  async close(): Promise<void> {}
}
