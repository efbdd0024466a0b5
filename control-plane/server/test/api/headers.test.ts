import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InstantScheduler, type ControlPlane } from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";
import { startTestServer } from "../helpers/server.js";

describe("security headers and CORS", () => {
  let db: Database;
  let cp: ControlPlane;
  beforeAll(async () => {
    db = await openDatabase({});
    ({ cp } = await startTestServer(db, new InstantScheduler()));
  });
  afterAll(async () => {
    await cp?.close();
    await db?.close();
  });

  it("sends nosniff, no framing, no referrer and a closed CSP on API answers, errors included", async () => {
    for (const [path, token] of [
      ["/api/v2/me", cp.bootstrapToken!],
      ["/api/v2/me", "wrong"],
      ["/healthz", ""],
      ["/api/v2/nope", cp.bootstrapToken!],
    ] as const) {
      const res = await fetch(`${cp.url}${path}`, {
        headers: token ? { "Circle-Token": token } : {},
      });
      expect(res.headers.get("x-content-type-options"), path).toBe("nosniff");
      expect(res.headers.get("x-frame-options"), path).toBe("DENY");
      expect(res.headers.get("referrer-policy"), path).toBe("no-referrer");
      expect(res.headers.get("content-security-policy"), path).toBe(
        "default-src 'none'; frame-ancestors 'none'",
      );
      // Plain HTTP (loopback here): no HSTS, which only means something over TLS.
      expect(res.headers.get("strict-transport-security"), path).toBeNull();
    }
  });

  it("keeps CORS closed: another origin gets no access, preflight or not", async () => {
    const evil = "https://evil.example";
    const get = await fetch(`${cp.url}/api/v2/me`, {
      headers: { "Circle-Token": cp.bootstrapToken!, origin: evil },
    });
    expect(get.headers.get("access-control-allow-origin")).toBeNull();
    expect(get.headers.get("access-control-allow-credentials")).toBeNull();
    const preflight = await fetch(`${cp.url}/api/v2/me`, {
      method: "OPTIONS",
      headers: {
        origin: evil,
        "access-control-request-method": "POST",
        "access-control-request-headers": "circle-token",
      },
    });
    expect(preflight.headers.get("access-control-allow-origin")).toBeNull();
    expect(preflight.headers.get("access-control-allow-methods")).toBeNull();
  });
});
