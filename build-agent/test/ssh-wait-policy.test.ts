import { describe, expect, it } from "vitest";
import { SshWaitPolicy } from "@drover/build-agent";

const MIN = 60_000;
const limits = { firstConnectMs: 10 * MIN, idleMs: 10 * MIN, maxMs: 120 * MIN };

describe("the wait of a rerun with SSH (a clock the test moves)", () => {
  it("ends 10 minutes after the steps when nobody connects", () => {
    const p = new SshWaitPolicy(limits, 0);
    expect(p.ended(10 * MIN - 1)).toBeNull();
    expect(p.deadline()).toBe(10 * MIN);
    expect(p.ended(10 * MIN)).toBe("no connection");
  });

  it("stays up while sessions are open, and ends 10 minutes after the last closes", () => {
    const p = new SshWaitPolicy(limits, 0);
    p.opened();
    p.opened();
    expect(p.ended(50 * MIN)).toBeNull(); // long past the first-connection window
    p.closed(55 * MIN);
    expect(p.ended(80 * MIN)).toBeNull(); // one still open
    p.closed(81 * MIN);
    expect(p.openSessions).toBe(0);
    expect(p.deadline()).toBe(91 * MIN);
    expect(p.ended(90 * MIN)).toBeNull();
    p.opened(); // back again before the idle time ran out
    p.closed(95 * MIN);
    expect(p.ended(104 * MIN)).toBeNull();
    expect(p.ended(105 * MIN)).toBe("idle");
  });

  it("never lasts more than 2 hours, sessions or not", () => {
    const p = new SshWaitPolicy(limits, 0);
    p.opened();
    expect(p.ended(120 * MIN - 1)).toBeNull();
    expect(p.ended(120 * MIN)).toBe("time limit");
    const q = new SshWaitPolicy(limits, 0);
    q.opened();
    q.closed(115 * MIN);
    expect(q.deadline()).toBe(120 * MIN);
    expect(q.ended(120 * MIN)).toBe("time limit");
  });
});
