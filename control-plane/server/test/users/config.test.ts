import { describe, expect, it } from "vitest";
import { DEFAULT_LOGIN_LIMITS, loginLimitsOf, serverConfigFromEnv } from "@drover/control-plane";

describe("users configuration", () => {
  it("reads login limits and trusted origins from DROVER_* variables", () => {
    const c = serverConfigFromEnv({
      DROVER_LOGIN_WINDOW_SECONDS: "30",
      DROVER_LOGIN_MAX_FAILURES_PER_USER: "4",
      DROVER_LOGIN_MAX_FAILURES_PER_ADDRESS: "40",
      DROVER_TRUSTED_ORIGINS: "https://ci.example.com, http://10.0.0.5:8080,",
    });
    expect(loginLimitsOf(c)).toEqual({
      windowSeconds: 30,
      maxFailuresPerUser: 4,
      maxFailuresPerAddress: 40,
    });
    expect(c.trustedOrigins).toEqual(["https://ci.example.com", "http://10.0.0.5:8080"]);
    expect(loginLimitsOf(serverConfigFromEnv({}))).toEqual(DEFAULT_LOGIN_LIMITS);
    expect(DEFAULT_LOGIN_LIMITS).toEqual({
      windowSeconds: 900,
      maxFailuresPerUser: 10,
      maxFailuresPerAddress: 50,
    });
  });

  it("names the variable of a bad value", () => {
    expect(() =>
      serverConfigFromEnv({ DROVER_TRUSTED_ORIGINS: "https://ci.example.com/app" }),
    ).toThrow(/DROVER_TRUSTED_ORIGINS: an origin/);
    expect(() => serverConfigFromEnv({ DROVER_LOGIN_MAX_FAILURES_PER_USER: "0" })).toThrow(
      /DROVER_LOGIN_MAX_FAILURES_PER_USER/,
    );
  });
});
