import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  SessionService,
  hashPassword,
  needsRehash,
  queryAudit,
  readSessionCookie,
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

const dbs = await testDatabases();

describe.each(dbs)("sessions on $name", (target) => {
  let db: Database;
  beforeAll(async () => {
    db = await target.open();
  });
  afterAll(async () => {
    await db?.close();
  });

  it("expire, end at logout, and upgrade weak hashes at login", async () => {
    const weak = new SessionService({ db, scrypt: { N: 2 ** 10, r: 8, p: 1 } });
    const login = `u-${randomUUID().slice(0, 8)}`;
    const user = await weak.createLocalUser(SYSTEM_ACTOR, {
      login,
      password: "a long enough password",
    });
    const created = await queryAudit(db, { actions: ["user.create"], actorId: "system" });
    expect(created.items.some((e) => e.target.id === user.id)).toBe(true);

    const strong = new SessionService({ db, scrypt: FAST, ttlMs: 2000 });
    const s = await strong.login(login, "a long enough password", { ip: "127.0.0.1" });
    expect(s?.user.login).toBe(login);
    const { rows } = await db.query<{ hash: string }>(
      "SELECT hash FROM user_passwords WHERE user_id = $1",
      [user.id],
    );
    expect(rows[0]!.hash).toMatch(/^scrypt\$4096\$/);
    expect(await strong.authenticate(s!.token)).not.toBeNull();
    await new Promise((r) => setTimeout(r, 2100));
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
