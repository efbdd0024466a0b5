import { isIPv4, isIPv6 } from "node:net";
import type { Database } from "../db/types.js";
import { DEFAULT_LOGIN_LIMITS, type LoginLimits } from "./config.js";

/** The time source of sessions, tokens and login limits (tests pass their own). */
export type Clock = () => Date;

export const systemClock: Clock = () => new Date();

/**
 * The key of an address: IPv4 as is (also when IPv4-mapped), IPv6 by its /64, the smallest block
 * one host is usually given, so that rotating addresses inside it does not reset the limit.
 */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1] && isIPv4(mapped[1])) return mapped[1];
  const bare = ip.replace(/%.*$/, "");
  if (!isIPv6(bare)) return ip;
  const dotted = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(bare);
  const hex = dotted
    ? bare.slice(0, dotted.index) +
      [(Number(dotted[1]) << 8) | Number(dotted[2]), (Number(dotted[3]) << 8) | Number(dotted[4])]
        .map((n) => n.toString(16))
        .join(":")
    : bare;
  const [head = "", tail] = hex.split("::");
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups =
    tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill("0"), ...t];
  return `${groups
    .slice(0, 4)
    .map((g) => parseInt(g, 16).toString(16))
    .join(":")}::/64`;
}

/**
 * Sliding-window limit of failed logins, per user and per address. Failures are kept in the
 * database (`login_failures`), so every control plane sharing it enforces one limit and a restart
 * forgets nothing. Only failures count: a user who logs in from a busy address is not limited by
 * others' successes, and a refused (rate-limited) attempt is not stored, so it does not extend
 * the wait or grow the table.
 */
export class LoginRateLimiter {
  private readonly limits: LoginLimits;
  private readonly now: Clock;

  constructor(private readonly deps: { db: Database; limits?: LoginLimits; now?: Clock }) {
    this.limits = deps.limits ?? DEFAULT_LOGIN_LIMITS;
    this.now = deps.now ?? systemClock;
  }

  private keys(login: string, address: string | undefined): [string, number][] {
    const out: [string, number][] = [
      [`user:${login.slice(0, 64)}`, this.limits.maxFailuresPerUser],
    ];
    if (address) out.push([`addr:${addressKey(address)}`, this.limits.maxFailuresPerAddress]);
    return out;
  }

  /** Whole seconds until `login` from `address` may be tried again; 0 when it may be tried now. */
  async retryAfter(login: string, address: string | undefined): Promise<number> {
    const now = this.now().getTime();
    const windowMs = this.limits.windowSeconds * 1000;
    const since = new Date(now - windowMs).toISOString();
    await this.deps.db.query("DELETE FROM login_failures WHERE at <= $1", [since]);
    let wait = 0;
    for (const [key, max] of this.keys(login, address)) {
      // The max-th newest failure: while it is inside the window, the key is at its limit.
      const { rows } = await this.deps.db.query<{ at: Date | string }>(
        `SELECT at FROM login_failures WHERE key = $1 AND at > $2
          ORDER BY at DESC OFFSET $3 LIMIT 1`,
        [key, since, max - 1],
      );
      const at = rows[0]?.at;
      if (at !== undefined) {
        wait = Math.max(wait, Math.ceil((new Date(at).getTime() + windowMs - now) / 1000));
      }
    }
    return Math.max(wait, 0);
  }

  /** Counts one failed login against the user and the address. */
  async recordFailure(login: string, address: string | undefined): Promise<void> {
    const at = this.now().toISOString();
    for (const [key] of this.keys(login, address)) {
      await this.deps.db.query("INSERT INTO login_failures (key, at) VALUES ($1, $2)", [key, at]);
    }
  }

  /** Forgets the user's failures (after a successful login); the address's stay. */
  async clearUser(login: string): Promise<void> {
    await this.deps.db.query("DELETE FROM login_failures WHERE key = $1", [
      `user:${login.slice(0, 64)}`,
    ]);
  }
}
