import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LoginRateLimiter,
  SessionService,
  UsersError,
  addressKey,
  hashPassword,
  needsRehash,
  originProblem,
  queryAudit,
  readSessionCookie,
  trustedOriginSet,
  verifyPassword,
  SYSTEM_ACTOR,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import { testDatabases } from "../helpers/databases.js";

const FAST = { N: 2 ** 12, r: 8, p: 1 };

describe("passwords", () => {
  it("hashes with scrypt, verifies, and refuses the wrong password or a mangled hash", async () => {
    const h = await hashPassword("correct horse battery staple", FAST);
    expect(h).toMatch(/^scrypt\$4096\$8\$1\$/);
    expect(await hashPassword("correct horse battery staple", FAST)).not.toBe(h);
    expect(await verifyPassword("correct horse battery staple", h)).toBe(true);
    expect(await verifyPassword("correct horse battery stapl", h)).toBe(false);
    expect(await verifyPassword("x", "bcrypt$whatever")).toBe(false);
    expect(await verifyPassword("x", h.replace("$4096$", "$99999999$"))).toBe(false);
    expect(needsRehash(h, FAST)).toBe(false);
    expect(needsRehash(h)).toBe(true);
  });

  it("reads the session cookie among others and ignores junk", () => {
    expect(readSessionCookie("a=1; drover_session=abc_DEF-1; b=2")).toBe("abc_DEF-1");
    expect(readSessionCookie("drover_session=<script>")).toBeUndefined();
    expect(readSessionCookie(undefined)).toBeUndefined();
  });
});

describe("origin of cookie-authenticated writes", () => {
  const trusted = trustedOriginSet(["https://ci.example.com/some/path", "not a url", undefined]);
  const req = (method: string, headers: Record<string, string>) => ({ method, headers });

  it("passes safe methods and writes from the server's own host or a trusted origin", () => {
    expect([...trusted]).toEqual(["https://ci.example.com"]);
    expect(originProblem(req("GET", {}), trusted)).toBeNull();
    expect(originProblem(req("HEAD", { origin: "https://evil.example" }), trusted)).toBeNull();
    for (const [origin, host] of [
      ["http://127.0.0.1:8080", "127.0.0.1:8080"],
      ["https://Drover.Internal", "drover.internal:443"],
      ["https://ci.example.com", "10.0.0.5:8080"],
    ] as const) {
      expect(originProblem(req("POST", { origin, host }), trusted), origin).toBeNull();
    }
  });

  it("refuses a missing, null, foreign or non-http Origin on every write method", () => {
    for (const method of ["POST", "PUT", "PATCH", "DELETE", "post"]) {
      expect(originProblem(req(method, { host: "127.0.0.1:8080" }), trusted)).toMatch(/no Origin/);
    }
    for (const origin of [
      "null",
      "https://evil.example",
      "http://127.0.0.1:8081",
      "https://ci.example.com.evil.example",
      "file:///etc",
      "%%%",
    ]) {
      expect(
        originProblem(req("POST", { origin, host: "127.0.0.1:8080" }), trusted),
        origin,
      ).not.toBeNull();
    }
    // Login is not cookie-authenticated: a CLI sends no Origin, a foreign one is still refused.
    expect(originProblem(req("POST", {}), trusted, { allowMissing: true })).toBeNull();
    expect(
      originProblem(req("POST", { origin: "https://evil.example", host: "a" }), trusted, {
        allowMissing: true,
      }),
    ).not.toBeNull();
  });

  it("keys addresses: IPv4 as is, IPv4-mapped as IPv4, IPv6 by its /64", () => {
    expect(addressKey("203.0.113.9")).toBe("203.0.113.9");
    expect(addressKey("::ffff:203.0.113.9")).toBe("203.0.113.9");
    expect(addressKey("2001:db8:1:2:aaaa::1")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8:1:2:ffff:ffff:ffff:fffe")).toBe("2001:db8:1:2::/64");
    expect(addressKey("2001:db8::1")).toBe("2001:db8:0:0::/64");
    expect(addressKey("fe80::1%eth0")).toBe("fe80:0:0:0::/64");
    expect(addressKey("::1")).toBe("0:0:0:0::/64");
    expect(addressKey("64:ff9b:1:2::192.0.2.1")).toBe("64:ff9b:1:2::/64");
  });
});

const dbs = await testDatabases();

describe.each(dbs)("sessions on $name", (target) => {
  let db: Database;
  beforeAll(async () => {
    db = await target.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("expire on the injected clock, end at logout, and upgrade weak hashes at login", async () => {
    const weak = new SessionService({ db, scrypt: { N: 2 ** 10, r: 8, p: 1 } });
    const login = `u-${randomUUID().slice(0, 8)}`;
    const user = await weak.createLocalUser(SYSTEM_ACTOR, {
      login,
      password: "a long enough password",
    });
    const created = await queryAudit(db, { actions: ["user.create"], actorId: "system" });
    expect(created.items.some((e) => e.target.id === user.id)).toBe(true);

    let now = Date.parse("2030-01-01T00:00:00Z");
    const strong = new SessionService({ db, scrypt: FAST, ttlMs: 2000, now: () => new Date(now) });
    const s = await strong.login(login, "a long enough password", { ip: "127.0.0.1" });
    expect(s?.user.login).toBe(login);
    const { rows } = await db.query<{ hash: string }>(
      "SELECT hash FROM user_passwords WHERE user_id = $1",
      [user.id],
    );
    expect(rows[0]!.hash).toMatch(/^scrypt\$4096\$/);
    expect(s!.expiresAt.toISOString()).toBe("2030-01-01T00:00:02.000Z");
    now += 1999;
    expect(await strong.authenticate(s!.token)).not.toBeNull();
    now += 1;
    expect(await strong.authenticate(s!.token)).toBeNull();
    expect(await strong.logout(s!.token)).toBe(false);

    const s2 = await strong.login(login, "a long enough password");
    expect(await strong.logout(s2!.token)).toBe(true);
    expect(await strong.authenticate(s2!.token)).toBeNull();
    const { rows: stored } = await db.query<{ token_hash: string }>(
      "SELECT token_hash FROM user_sessions WHERE user_id = $1",
      [user.id],
    );
    expect(stored.map((r) => r.token_hash)).not.toContain(s2!.token);
    expect(await strong.login(login, "wrong password!!")).toBeNull();
    expect(await strong.login(`nobody-${randomUUID()}`, "a long enough password")).toBeNull();
  });
});

describe.each(dbs)("login rate limit on $name", (target) => {
  let db: Database;
  beforeAll(async () => {
    db = await target.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  const limits = { windowSeconds: 60, maxFailuresPerUser: 3, maxFailuresPerAddress: 5 };

  it("refuses a user after too many failures in a sliding window, whatever the address", async () => {
    let now = Date.parse("2030-01-01T00:00:00Z");
    const sessions = new SessionService({
      db,
      scrypt: FAST,
      loginLimits: limits,
      now: () => new Date(now),
    });
    const login = `rl-${randomUUID().slice(0, 8)}`;
    await sessions.createLocalUser(SYSTEM_ACTOR, { login, password: "the right password" });
    for (const [i, ip] of ["198.51.100.1", "198.51.100.2", "198.51.100.3"].entries()) {
      now += 10_000 * Math.min(i, 1);
      expect(await sessions.login(login, "a wrong password", { ip })).toBeNull();
    }
    // Failures at t=0, 10 s, 20 s: the fourth attempt, even with the right password, waits
    // until the first one leaves the 60 s window.
    const refused = await sessions
      .login(login, "the right password", { ip: "198.51.100.4" })
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(UsersError);
    expect(refused).toMatchObject({
      code: "DROVER_ERR_USERS_RATE_LIMITED",
      statusCode: 429,
      retryAfterSeconds: 40,
    });
    now += 39_999;
    await expect(sessions.login(login, "the right password")).rejects.toMatchObject({
      retryAfterSeconds: 1,
    });
    now += 1;
    const ok = await sessions.login(login, "the right password", { ip: "198.51.100.4" });
    expect(ok?.user.login).toBe(login);
    // A success forgets the user's failures.
    const { rows } = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM login_failures WHERE key = $1",
      [`user:${login}`],
    );
    expect(rows[0]?.n).toBe(0);
    // The refused attempts were not audited as password checks; the three failures were.
    const audited = await queryAudit(db, { actions: ["user.logged_in"], actorId: ok!.user.userId });
    expect(audited.items.map((e) => e.success).sort()).toEqual([false, false, false, true]);
  });

  it("refuses an address after too many failures across users, also unknown ones", async () => {
    let now = Date.parse("2031-01-01T00:00:00Z");
    const limiter = new LoginRateLimiter({ db, limits, now: () => new Date(now) });
    const sessions = new SessionService({
      db,
      scrypt: FAST,
      loginLimits: limits,
      now: () => new Date(now),
    });
    const ip = "2001:db8:77:1::10";
    for (let i = 0; i < 5; i++) {
      expect(await sessions.login(`nobody-${randomUUID()}`, "whatever it is", { ip })).toBeNull();
    }
    // Another address of the same /64 is the same address; another /64 is not.
    await expect(
      sessions.login(`nobody-${randomUUID()}`, "whatever it is", { ip: "2001:db8:77:1::99" }),
    ).rejects.toMatchObject({ code: "DROVER_ERR_USERS_RATE_LIMITED", retryAfterSeconds: 60 });
    expect(await limiter.retryAfter("someone", "2001:db8:77:2::10")).toBe(0);
    expect(await limiter.retryAfter("someone", ip)).toBe(60);
    now += 60_000;
    expect(await limiter.retryAfter("someone", ip)).toBe(0);
    // Expired failures are deleted as logins are checked.
    const { rows } = await db.query<{ n: number }>(
      "SELECT count(*)::int AS n FROM login_failures WHERE key = 'addr:2001:db8:77:1::/64'",
    );
    expect(rows[0]?.n).toBe(0);
  });
});
