/**
 * `startDrover` (what `drover up` runs) wires the configured login limits and trusted origins
 * into the session routes and the cookie authenticator.
 */
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  InstantScheduler,
  serverConfigSchema,
  startDrover,
  type Drover,
} from "@drover/control-plane";
import { logger } from "../helpers/harness.js";
import { http } from "../helpers/server.js";

let drover: Drover;
let url: string;

beforeAll(async () => {
  const config = serverConfigSchema.parse({
    port: 0,
    outputPort: 0,
    dataDir: mkdtempSync(join(tmpdir(), "drover-users-wiring-")),
    tickIntervalMs: 0,
    scheduleTickMs: 0,
    publicUrl: "https://ci.example.com/",
    trustedOrigins: ["https://admin.example.com"],
    loginMaxFailuresPerUser: 1,
  });
  drover = await startDrover({ config, logger, env: {}, scheduler: new InstantScheduler() });
  url = drover.cp.url;
});

afterAll(async () => {
  await drover?.close();
});

describe("drover up wiring of users", () => {
  it("applies the configured login limit and trusts the public URL's and listed origins", async () => {
    const admin = drover.cp.bootstrapToken!;
    const password = "a long enough password";
    const created = await http(url, "POST", "/api/v2/admin/users", {
      token: admin,
      body: { login: "wired", password },
    });
    expect(created.status).toBe(201);
    const ok = await http(url, "POST", "/api/v2/auth/login", {
      body: { login: "wired", password },
    });
    expect(ok.status).toBe(200);
    const cookie = (ok.headers.get("set-cookie") ?? "").split(";")[0]!;
    const write = (origin: string) =>
      http(url, "POST", "/api/v2/tokens", { headers: { cookie, origin }, body: {} });
    expect((await write("https://ci.example.com")).status).toBe(201);
    expect((await write("https://admin.example.com")).status).toBe(201);
    const foreign = await write("https://evil.example");
    expect(foreign.status).toBe(403);
    expect(foreign.body.code).toBe("DROVER_ERR_USERS_ORIGIN");

    // One failure is the configured limit (the default is 10).
    const login = (pw: string) =>
      http(url, "POST", "/api/v2/auth/login", { body: { login: "wired", password: pw } });
    expect((await login("not the password")).status).toBe(401);
    const limited = await login(password);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(800);
  });
});
