import type { ChainableCommander, Redis } from "ioredis";
import { entryChars } from "../protocol/ingest.js";
import type { LogEntry, StoredFrame } from "./types.js";

/**
 * The last entries of each live task, shared by every instance, so a late subscriber catches up
 * without touching the durable store. Appended after the durable store and before publishing.
 * Entries expire `ttlSeconds` after the task's last append.
 */
export interface LiveWindow {
  /** `json`, when given, is `entries.map(JSON.stringify)`. */
  append(taskId: string, entries: StoredFrame[], json?: string[]): Promise<void>;
  /**
   * Entries with seq >= `fromSeq`, up to `limit`, or null when the window does not reach back to
   * `fromSeq` (the caller then reads the durable store).
   */
  read(taskId: string, fromSeq: number, limit: number): Promise<LogEntry[] | null>;
  /**
   * Optional: appends and then publishes `message` on backbone `channel` in one step (one Redis
   * round trip, atomically), for a window that lives on the backbone's own Redis.
   */
  appendAndPublish?(
    taskId: string,
    entries: StoredFrame[],
    json: string[],
    channel: string,
    message: string,
  ): Promise<void>;
  close(): Promise<void>;
}

export interface LiveWindowOptions {
  /** Entries kept per task (default 1024). */
  maxEntries?: number;
  /** Serialized bytes kept per task, about (default 512 KiB); the newest entry is always kept. */
  maxBytes?: number;
  ttlSeconds?: number;
}

/**
 * Tracks a task's newest entries to find the oldest seq the entry and byte budgets keep, and when
 * its Redis key last had its expiry set.
 */
class Budget {
  private readonly tasks = new Map<
    string,
    { seqs: number[]; sizes: number[]; total: number; expiredAt: number }
  >();

  constructor(
    private readonly maxBytes: number,
    private readonly maxEntries: number,
  ) {}

  /**
   * Records entries; returns the lowest seq to keep, whether entries before it must now go
   * (`trim`), and whether this is the task's first append here (older writers may have left more).
   */
  add(
    taskId: string,
    entries: StoredFrame[],
    sizes: number[],
  ): { keepFrom: number; trim: boolean; fresh: boolean } {
    let t = this.tasks.get(taskId);
    const fresh = !t;
    if (!t) {
      if (this.tasks.size >= 10_000) this.tasks.delete(this.tasks.keys().next().value as string);
      this.tasks.set(taskId, (t = { seqs: [], sizes: [], total: 0, expiredAt: 0 }));
    }
    entries.forEach((e, i) => {
      const size = sizes[i] as number;
      t.seqs.push(e.seq);
      t.sizes.push(size);
      t.total += size;
    });
    let drop = Math.max(0, t.seqs.length - this.maxEntries);
    for (let i = 0; i < drop; i++) t.total -= t.sizes[i] as number;
    while (t.total > this.maxBytes && drop < t.seqs.length - 1)
      t.total -= t.sizes[drop++] as number;
    if (drop > 0) {
      t.seqs.splice(0, drop);
      t.sizes.splice(0, drop);
    }
    const keepFrom = t.seqs[0] as number;
    if (entries.some((e) => e.kind === "task_finished")) this.tasks.delete(taskId);
    return { keepFrom, trim: drop > 0, fresh };
  }

  /** Whether the task's key should have its expiry set again (at most every `everyMs`). */
  expiryDue(taskId: string, everyMs: number, now: number): boolean {
    const t = this.tasks.get(taskId);
    if (!t) return true;
    if (now - t.expiredAt < everyMs) return false;
    t.expiredAt = now;
    return true;
  }
}

/** In-process window, for a single instance without Redis. */
export class MemoryLiveWindow implements LiveWindow {
  private readonly tasks = new Map<string, { entries: StoredFrame[]; timer: NodeJS.Timeout }>();
  private readonly ttlMs: number;
  private readonly budget: Budget;

  constructor(opts: LiveWindowOptions = {}) {
    this.ttlMs = (opts.ttlSeconds ?? 3600) * 1000;
    this.budget = new Budget(opts.maxBytes ?? 512 * 1024, opts.maxEntries ?? 1024);
  }

  async append(taskId: string, entries: StoredFrame[]): Promise<void> {
    let t = this.tasks.get(taskId);
    if (t) clearTimeout(t.timer);
    else
      this.tasks.set(taskId, (t = { entries: [], timer: undefined as unknown as NodeJS.Timeout }));
    t.entries.push(...entries);
    const { keepFrom } = this.budget.add(taskId, entries, entries.map(entryChars));
    // The budget counts entries too, so `keepFrom` is the whole answer.
    const cut = keepFrom - (t.entries[0] as StoredFrame).seq;
    if (cut > 0) t.entries.splice(0, cut);
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

/**
 * Redis window: a sorted set per task scored by seq. An append is one pipelined round trip: ZADD,
 * a trim only when the budgets moved, EXPIRE on a task's first append here and then every quarter
 * of the TTL, and the publish. Commands on one connection run in order, so a subscriber that sees
 * the message can read its entries; no MULTI is needed for that.
 */
export class RedisLiveWindow implements LiveWindow {
  private readonly max: number;
  private readonly ttl: number;
  private readonly budget: Budget;

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    opts: LiveWindowOptions = {},
  ) {
    this.max = opts.maxEntries ?? 1024;
    this.ttl = opts.ttlSeconds ?? 3600;
    this.budget = new Budget(opts.maxBytes ?? 512 * 1024, this.max);
  }

  private key(taskId: string): string {
    return `${this.prefix}window:${taskId}`;
  }

  async append(taskId: string, entries: StoredFrame[], json?: string[]): Promise<void> {
    if (entries.length === 0) return;
    const res = await this.transaction(taskId, entries, json).exec();
    const failed = res?.find(([err]) => err);
    if (failed) throw failed[0] as Error;
  }

  async appendAndPublish(
    taskId: string,
    entries: StoredFrame[],
    json: string[],
    channel: string,
    message: string,
  ): Promise<void> {
    const res = await this.transaction(taskId, entries, json)
      .publish(channel, Buffer.from(message))
      .exec();
    const failed = res?.find(([err]) => err);
    if (failed) throw failed[0] as Error;
  }

  private transaction(taskId: string, entries: StoredFrame[], json?: string[]): ChainableCommander {
    const key = this.key(taskId);
    // Buffers, not strings: ioredis joins a pipeline's string commands into one string, which
    // crosses V8's large-string line (see MESSAGE_TARGET_CHARS) for big entries.
    const args: Array<string | Buffer> = [];
    const sizes: number[] = [];
    entries.forEach((e, i) => {
      const j = json?.[i] ?? JSON.stringify(e);
      args.push(String(e.seq), Buffer.from(j));
      sizes.push(j.length);
    });
    const { keepFrom, trim, fresh } = this.budget.add(taskId, entries, sizes);
    const p = this.redis.pipeline().zadd(key, ...(args as [string, Buffer]));
    // Another writer (an earlier connection, another instance) may have left more: trim once.
    if (trim || fresh) p.zremrangebyscore(key, "-inf", `(${keepFrom}`);
    if (this.budget.expiryDue(taskId, (this.ttl * 1000) / 4, Date.now())) {
      p.expire(key, this.ttl);
    }
    return p;
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
