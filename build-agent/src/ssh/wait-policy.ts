/**
 * How long a job rerun with SSH stays up after its steps, as CircleCI does: until someone first
 * connects (`firstConnectMs`, 10 minutes), then while sessions are open and `idleMs` (10 minutes)
 * after the last one closes, never past `maxMs` (2 hours) from the start of the wait. A pure state
 * machine over the times it is told: the caller owns the clock (tests drive it by hand).
 */
export interface SshWaitLimits {
  firstConnectMs: number;
  idleMs: number;
  maxMs: number;
}

export const DEFAULT_SSH_WAIT: SshWaitLimits = {
  firstConnectMs: 10 * 60_000,
  idleMs: 10 * 60_000,
  maxMs: 2 * 3600_000,
};

export type SshWaitEnd = "no connection" | "idle" | "time limit";

export class SshWaitPolicy {
  #open = 0;
  #connected = false;
  #lastClose: number | null = null;

  constructor(
    private readonly limits: SshWaitLimits,
    /** When the wait began (ms). */
    private readonly start: number,
  ) {}

  opened(): void {
    this.#open++;
    this.#connected = true;
  }

  closed(at: number): void {
    this.#open = Math.max(0, this.#open - 1);
    if (this.#open === 0) this.#lastClose = at;
  }

  get openSessions(): number {
    return this.#open;
  }

  /** When the wait ends if nothing changes (ms). */
  deadline(): number {
    const hard = this.start + this.limits.maxMs;
    if (!this.#connected) return Math.min(hard, this.start + this.limits.firstConnectMs);
    if (this.#open > 0) return hard;
    return Math.min(hard, (this.#lastClose ?? this.start) + this.limits.idleMs);
  }

  /** Why the wait is over at `now`, or null while it goes on. */
  ended(now: number): SshWaitEnd | null {
    if (now >= this.start + this.limits.maxMs) return "time limit";
    if (now < this.deadline()) return null;
    return this.#connected ? "idle" : "no connection";
  }
}
