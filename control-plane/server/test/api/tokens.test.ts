/**
 * API tokens (list, revoke, expiry), user and membership removal, the Origin check of
 * cookie-authenticated writes and the login rate limit, through a real control plane with session
 * routes and cookie authentication wired as `drover up` wires them. Time comes from an injected
 * clock.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  InstantScheduler,
  SessionService,
  registerSessionRoutes,
  sessionAuthenticator,
  trustedOriginSet,
  type ControlPlane,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import { runCli, type DroverClient } from "@drover/cli";
import { testDatabases } from "../helpers/databases.js";
import { http, makeRepo, CONFIG, startTestServer } from "../helpers/server.js";

const dbs = await testDatabases();
const DAY = 86_400_000;
const TRUSTED = "https://ci.example.com";

describe.each(dbs)("tokens, users and sessions ($name)", ({ open }) => {
  let db: Database;
  let cp: ControlPlane;
  let admin: DroverClient;
  let adminToken: string;
  let url: string;
  let now = Date.parse("2030-06-01T12:00:00Z");
  const clock = () => new Date(now);
  const repo = makeRepo({ ".circleci/config.yml": CONFIG });
  const slug = `gh/tok-${randomUUID().slice(0, 8)}/app`;
  const password = "a long enough password";

  beforeAll(async () => {
    db = await open();
    const sessions = new SessionService({
      db,
      scrypt: { N: 2 ** 12, r: 8, p: 1 },
      now: clock,
      loginLimits: { windowSeconds: 60, maxFailuresPerUser: 3, maxFailuresPerAddress: 6 },
    });
    const trusted = trustedOriginSet([TRUSTED]);
    ({ cp, admin } = await startTestServer(db, new InstantScheduler(), {
      now: clock,
      authenticators: [sessionAuthenticator(sessions, trusted)],
      routes: [(app) => registerSessionRoutes(app, { sessions, trustedOrigins: trusted })],
    }));
    url = cp.url;
    adminToken = cp.bootstrapToken ?? "";
    await admin.addProject({ slug, repository_url: repo.url });
  });
  afterAll(async () => {
    await cp?.close();
    await db?.close();
  });

  /** A member with a token (and a password when `withPassword`). */
  async function member(projects: string[] = [slug]) {
    const login = `m-${randomUUID().slice(0, 8)}`;
    const r = await admin.createToken({ login, projects });
    return { login, id: r.user.id, token: r.token, tokenId: r.id };
  }

  async function localUser(role: "member" | "admin" = "member") {
    const login = `u-${randomUUID().slice(0, 8)}`;
    const r = await http(url, "POST", "/api/v2/admin/users", {
      token: adminToken,
      body: { login, password, role },
    });
    expect(r.status).toBe(201);
    return { login, id: r.body.id as string };
  }

  async function loginCookie(login: string): Promise<string> {
    const r = await http(url, "POST", "/api/v2/auth/login", { body: { login, password } });
    expect(r.status, JSON.stringify(r.body)).toBe(200);
    return (r.headers.get("set-cookie") ?? "").split(";")[0]!;
  }

  const auditOf = async (requestId: string | null) =>
    (
      await db.query<{ action: string; target: unknown; payload: unknown }>(
        "SELECT action, target, payload FROM audit_events WHERE request_id = $1 ORDER BY seq",
        [requestId],
      )
    ).rows.map((r) => ({
      action: r.action,
      target: typeof r.target === "string" ? JSON.parse(r.target) : r.target,
      payload: typeof r.payload === "string" ? JSON.parse(r.payload) : r.payload,
    }));

  it("lists your own tokens, never their values, and revokes them at once", async () => {
    const m = await member();
    const second = await http(url, "POST", "/api/v2/tokens", {
      token: m.token,
      body: { label: "laptop" },
    });
    expect(second.status).toBe(201);
    expect(second.body).toMatchObject({ label: "laptop", expires_at: null });
    expect(second.body.id).toMatch(/^[0-9a-f-]{36}$/);

    const list = await http(url, "GET", "/api/v2/tokens", { token: m.token });
    expect(list.status).toBe(200);
    expect(list.body.items.map((t: { id: string }) => t.id)).toEqual([m.tokenId, second.body.id]);
    expect(list.body.items[1]).toEqual({
      id: second.body.id,
      label: "laptop",
      created_at: expect.any(String),
      last_used_at: null,
      expires_at: null,
    });
    expect(list.body.items[0].last_used_at).toBe(new Date(now).toISOString());
    expect(JSON.stringify(list.body)).not.toContain(m.token);
    expect(JSON.stringify(list.body)).not.toContain(second.body.token);

    const del = await http(url, "DELETE", `/api/v2/tokens/${second.body.id}`, { token: m.token });
    expect(del.status).toBe(204);
    expect(await auditOf(del.headers.get("x-request-id"))).toEqual([
      {
        action: "user.api_token.revoke",
        target: { id: m.id, type: "user", name: m.login },
        payload: { token_id: second.body.id, label: "laptop" },
      },
    ]);
    expect((await http(url, "GET", "/api/v2/me", { token: second.body.token })).status).toBe(401);
    expect((await http(url, "GET", "/api/v2/me", { token: m.token })).status).toBe(200);
    const after = await http(url, "GET", "/api/v2/tokens", { token: m.token });
    expect(after.body.items.map((t: { id: string }) => t.id)).toEqual([m.tokenId]);
    // Revoking twice, or an id that is not a UUID, is a 404.
    for (const id of [second.body.id, "nope"]) {
      expect((await http(url, "DELETE", `/api/v2/tokens/${id}`, { token: m.token })).status).toBe(
        404,
      );
    }
  });

  it("lets admins list and revoke anyone's tokens, and members only their own", async () => {
    const a = await member();
    const b = await member();
    // A member cannot see or revoke another's token: 403 on the list, 404 on the token.
    expect(
      (await http(url, "GET", `/api/v2/tokens?login=${b.login}`, { token: a.token })).status,
    ).toBe(403);
    const refused = await http(url, "DELETE", `/api/v2/tokens/${b.tokenId}`, { token: a.token });
    expect(refused.status).toBe(404);
    expect(await auditOf(refused.headers.get("x-request-id"))).toEqual([]);
    expect((await http(url, "GET", "/api/v2/me", { token: b.token })).status).toBe(200);

    const listed = await http(url, "GET", `/api/v2/tokens?login=${b.login}`, {
      token: adminToken,
    });
    expect(listed.body.items.map((t: { id: string }) => t.id)).toEqual([b.tokenId]);
    expect(
      (await http(url, "GET", "/api/v2/tokens?login=nobody-at-all", { token: adminToken })).status,
    ).toBe(404);
    const del = await http(url, "DELETE", `/api/v2/tokens/${b.tokenId}`, { token: adminToken });
    expect(del.status).toBe(204);
    expect(await auditOf(del.headers.get("x-request-id"))).toMatchObject([
      { action: "user.api_token.revoke", target: { id: b.id, name: b.login } },
    ]);
    const res = await http(url, "GET", "/api/v2/me", { token: b.token });
    expect(res.status).toBe(401);
    expect(res.body.code).toBe("DROVER_ERR_UNAUTHENTICATED");
  });

  it("gives tokens an optional expiry and refuses expired ones with their own code", async () => {
    const inDays = await http(url, "POST", "/api/v2/tokens", {
      token: adminToken,
      body: { label: "ci", expires_in_days: 30 },
    });
    expect(inDays.status).toBe(201);
    expect(inDays.body.expires_at).toBe(new Date(now + 30 * DAY).toISOString());
    const at = new Date(now + 2 * DAY).toISOString();
    const atTime = await http(url, "POST", "/api/v2/tokens", {
      token: adminToken,
      body: { expires_at: at },
    });
    expect(atTime.body.expires_at).toBe(at);
    const audited = await auditOf(atTime.headers.get("x-request-id"));
    expect(audited[0]?.payload).toMatchObject({ token_id: atTime.body.id, expires_at: at });

    for (const [body, field] of [
      [{ expires_at: new Date(now - 1000).toISOString() }, "expires_at"],
      [{ expires_at: "tomorrow" }, "expires_at"],
      [{ expires_in_days: 0 }, "expires_in_days"],
      [{ expires_in_days: 1.5 }, "expires_in_days"],
      [{ expires_in_days: 1, expires_at: at }, "expires_in_days"],
      [{ expires_at: new Date(now + 3651 * DAY).toISOString() }, "expires_at"],
    ] as const) {
      const r = await http(url, "POST", "/api/v2/tokens", { token: adminToken, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.errors.map((e: { field: string }) => e.field)).toContain(field);
      expect(await auditOf(r.headers.get("x-request-id"))).toEqual([]);
    }

    expect((await http(url, "GET", "/api/v2/me", { token: atTime.body.token })).status).toBe(200);
    now += 2 * DAY;
    const expired = await http(url, "GET", "/api/v2/me", { token: atTime.body.token });
    expect(expired.status).toBe(401);
    expect(expired.body.code).toBe("DROVER_ERR_USERS_TOKEN_EXPIRED");
    expect(expired.body.message).toContain(at);
    expect((await http(url, "GET", "/api/v2/me", { bearer: inDays.body.token })).status).toBe(200);
    // Expired tokens stay listed (with their expiry) until revoked.
    const list = await http(url, "GET", "/api/v2/tokens", { token: adminToken });
    expect(list.body.items).toContainEqual(
      expect.objectContaining({ id: atTime.body.id, expires_at: at }),
    );
    expect(list.body.items).toContainEqual(
      expect.objectContaining({ id: inDays.body.id, last_used_at: new Date(now).toISOString() }),
    );
  });

  it("removes a user: their tokens and sessions stop at once; the last admin stays", async () => {
    const m = await member();
    const u = await localUser();
    const cookie = await loginCookie(u.login);
    const extra = await http(url, "POST", "/api/v2/tokens", {
      token: adminToken,
      body: { login: u.login },
    });
    expect((await http(url, "GET", "/api/v2/me", { headers: { cookie } })).status).toBe(200);
    expect((await http(url, "GET", "/api/v2/me", { token: extra.body.token })).status).toBe(200);

    // Members may not remove anyone.
    expect(
      (await http(url, "DELETE", `/api/v2/admin/users/${u.id}`, { token: m.token })).status,
    ).toBe(403);
    expect((await http(url, "GET", "/api/v2/admin/users", { token: m.token })).status).toBe(403);
    const users = await http(url, "GET", "/api/v2/admin/users", { token: adminToken });
    expect(users.body.items).toContainEqual(
      expect.objectContaining({ id: m.id, login: m.login, role: "member", projects: [slug] }),
    );

    const del = await http(url, "DELETE", `/api/v2/admin/users/${u.login}`, {
      token: adminToken,
    });
    expect(del.status).toBe(204);
    expect(await auditOf(del.headers.get("x-request-id"))).toEqual([
      {
        action: "user.delete",
        target: { id: u.id, type: "user", name: u.login },
        payload: { login: u.login, role: "member" },
      },
    ]);
    expect((await http(url, "GET", "/api/v2/me", { headers: { cookie } })).status).toBe(401);
    expect((await http(url, "GET", "/api/v2/auth/session", { headers: { cookie } })).status).toBe(
      401,
    );
    expect((await http(url, "GET", "/api/v2/me", { token: extra.body.token })).status).toBe(401);
    expect(
      (await http(url, "DELETE", `/api/v2/admin/users/${u.id}`, { token: adminToken })).status,
    ).toBe(404);
    // The removed user's login may be created afresh; it gets nothing of the old one.
    const again = await http(url, "POST", "/api/v2/tokens", {
      token: adminToken,
      body: { login: u.login },
    });
    expect(again.body.user.id).not.toBe(u.id);

    // By id too.
    expect(
      (await http(url, "DELETE", `/api/v2/admin/users/${m.id}`, { token: adminToken })).status,
    ).toBe(204);
    expect((await http(url, "GET", "/api/v2/me", { token: m.token })).status).toBe(401);

    // The only admin cannot remove themselves; with a second admin, either may go.
    const me = await admin.me();
    const last = await http(url, "DELETE", `/api/v2/admin/users/${me.id}`, { token: adminToken });
    expect(last.status).toBe(409);
    expect(last.body.code).toBe("DROVER_ERR_USERS_CONFLICT");
    expect(await auditOf(last.headers.get("x-request-id"))).toEqual([]);
    const second = await http(url, "POST", "/api/v2/tokens", {
      token: adminToken,
      body: { login: `a-${randomUUID().slice(0, 8)}`, role: "admin" },
    });
    expect(
      (
        await http(url, "DELETE", `/api/v2/admin/users/${second.body.user.id}`, {
          token: adminToken,
        })
      ).status,
    ).toBe(204);
  });

  it("removes a membership: the project disappears for that user at once", async () => {
    const m = await member();
    expect((await http(url, "GET", `/api/v2/project/${slug}`, { token: m.token })).status).toBe(
      200,
    );
    const path = `/api/v2/admin/users/${m.login}/projects/${slug}`;
    expect((await http(url, "DELETE", path, { token: m.token })).status).toBe(403);
    const del = await http(url, "DELETE", path, { token: adminToken });
    expect(del.status).toBe(204);
    const audited = await auditOf(del.headers.get("x-request-id"));
    expect(audited).toMatchObject([
      {
        action: "project.member.remove",
        target: { id: m.id, type: "user", name: m.login },
        payload: { project: slug },
      },
    ]);
    expect((await http(url, "GET", `/api/v2/project/${slug}`, { token: m.token })).status).toBe(
      404,
    );
    expect((await http(url, "GET", "/api/v2/me", { token: m.token })).status).toBe(200);
    expect((await http(url, "DELETE", path, { token: adminToken })).status).toBe(404);
    expect(
      (
        await http(url, "DELETE", `/api/v2/admin/users/nobody-${randomUUID()}/projects/${slug}`, {
          token: adminToken,
        })
      ).status,
    ).toBe(404);
  });

  it("refuses cookie-authenticated writes from a missing or foreign Origin", async () => {
    const u = await localUser("admin");
    const cookie = await loginCookie(u.login);
    const body = { label: "from the browser" };
    const write = (headers: Record<string, string>) =>
      http(url, "POST", "/api/v2/tokens", { headers: { cookie, ...headers }, body });

    for (const headers of [{}, { origin: "https://evil.example" }, { origin: "null" }]) {
      const r = await write(headers);
      expect(r.status, JSON.stringify(headers)).toBe(403);
      expect(r.body.code).toBe("DROVER_ERR_USERS_ORIGIN");
      expect(await auditOf(r.headers.get("x-request-id"))).toEqual([]);
    }
    for (const method of ["DELETE", "PATCH", "PUT"]) {
      const r = await http(url, method, `/api/v2/tokens/${randomUUID()}`, {
        headers: { cookie, origin: "https://evil.example" },
      });
      expect(r.status, method).toBe(403);
    }
    // Reads need no Origin; writes from this server's own origin or a trusted one pass.
    expect((await http(url, "GET", "/api/v2/tokens", { headers: { cookie } })).status).toBe(200);
    expect((await write({ origin: new URL(url).origin })).status).toBe(201);
    expect((await write({ origin: TRUSTED })).status).toBe(201);
    // A token-authenticated write is unaffected by Origin, cookie or not.
    const tokenWrite = await http(url, "POST", "/api/v2/tokens", {
      token: adminToken,
      headers: { cookie, origin: "https://evil.example" },
      body,
    });
    expect(tokenWrite.status).toBe(201);
    // Logout is a cookie write too; login from a foreign page is refused (login CSRF).
    const out = await http(url, "POST", "/api/v2/auth/logout", { headers: { cookie } });
    expect(out.status).toBe(403);
    expect((await http(url, "GET", "/api/v2/auth/session", { headers: { cookie } })).status).toBe(
      200,
    );
    const foreignLogin = await http(url, "POST", "/api/v2/auth/login", {
      headers: { origin: "https://evil.example" },
      body: { login: u.login, password },
    });
    expect(foreignLogin.status).toBe(403);
    expect(foreignLogin.headers.get("set-cookie")).toBeNull();
    const ok = await http(url, "POST", "/api/v2/auth/logout", {
      headers: { cookie, origin: new URL(url).origin },
    });
    expect(ok.status).toBe(200);
    expect((await http(url, "GET", "/api/v2/auth/session", { headers: { cookie } })).status).toBe(
      401,
    );
  });

  it("rate limits logins per user and per address with 429 and Retry-After", async () => {
    // Start from an empty window (earlier tests' failures from this address are forgotten).
    now += 61_000;
    const u = await localUser();
    const login = (who: string, pw: string) =>
      http(url, "POST", "/api/v2/auth/login", { body: { login: who, password: pw } });
    for (let i = 0; i < 3; i++) {
      expect((await login(u.login, "not the password")).status).toBe(401);
      now += 5_000;
    }
    // Failures at +0, +5, +10 s; now +15 s: the right password waits for the first to leave.
    const limited = await login(u.login, password);
    expect(limited.status).toBe(429);
    expect(limited.body.code).toBe("DROVER_ERR_USERS_RATE_LIMITED");
    expect(limited.headers.get("retry-after")).toBe("45");
    expect(limited.headers.get("set-cookie")).toBeNull();
    now += 45_000;
    expect((await login(u.login, password)).status).toBe(200);

    // The address: its failures at +5 and +10 s are still in the window; 4 more for other (also
    // unknown) logins reach its limit of 6.
    for (let i = 0; i < 4; i++) {
      expect((await login(`nobody-${randomUUID()}`, "whatever it is")).status).toBe(401);
    }
    const byAddress = await login(u.login, password);
    expect(byAddress.status).toBe(429);
    expect(Number(byAddress.headers.get("retry-after"))).toBeGreaterThan(0);
    now += 60_000;
    expect((await login(u.login, password)).status).toBe(200);
  });

  it("drover token list and revoke", async () => {
    const m = await member();
    const lines: string[] = [];
    const spy = vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      lines.push(String(chunk));
      return true;
    });
    const env = { url: process.env.DROVER_URL, token: process.env.DROVER_TOKEN };
    process.env.DROVER_URL = url;
    process.env.DROVER_TOKEN = m.token;
    try {
      expect(await runCli(["token", "create", "--label", "cli", "--expires-in-days", "7"])).toBe(0);
      const created = /token ([0-9a-f-]{36}) for .*expires (\S+)\), shown once:\n(drv_\S+)\n/.exec(
        lines.join(""),
      );
      expect(created?.[2]).toBe(new Date(now + 7 * DAY).toISOString());
      lines.length = 0;
      expect(await runCli(["token", "list"])).toBe(0);
      const listed = lines.join("");
      expect(listed).toContain(`${m.tokenId}\t-\t`);
      expect(listed).toContain(`${created?.[1]}\tcli\t`);
      expect(listed).not.toContain(created?.[3] ?? "drv_");
      expect(await runCli(["token", "revoke", created?.[1] ?? ""])).toBe(0);
      expect((await http(url, "GET", "/api/v2/me", { token: created?.[3] })).status).toBe(401);
      expect(await runCli(["token", "revoke"])).toBe(2);
      expect(await runCli(["token", "list", "extra"])).toBe(2);
      expect(await runCli(["token", "create", "--expires-in-days", "0"])).toBe(2);
    } finally {
      spy.mockRestore();
      process.env.DROVER_URL = env.url ?? "";
      process.env.DROVER_TOKEN = env.token ?? "";
      if (env.url === undefined) delete process.env.DROVER_URL;
      if (env.token === undefined) delete process.env.DROVER_TOKEN;
    }
  });
});
