import { z } from "zod";

/** Login rate limits and the browser origins trusted for cookie-authenticated writes. */
export const usersConfigSchema = z.object({
  /** Sliding window of the login rate limit, in seconds (`DROVER_LOGIN_WINDOW_SECONDS`). */
  loginWindowSeconds: z.coerce.number().int().min(1).default(900),
  /** Failed logins of one user per window before 429 (`DROVER_LOGIN_MAX_FAILURES_PER_USER`). */
  loginMaxFailuresPerUser: z.coerce.number().int().min(1).default(10),
  /** Failed logins from one address per window before 429 (`DROVER_LOGIN_MAX_FAILURES_PER_ADDRESS`). */
  loginMaxFailuresPerAddress: z.coerce.number().int().min(1).default(50),
  /**
   * Origins (`https://host[:port]`) besides the server's own whose cookie-authenticated writes are
   * accepted (`DROVER_TRUSTED_ORIGINS`, comma-separated).
   */
  trustedOrigins: z
    .array(
      z
        .string()
        .url()
        .refine(
          (u) => new URL(u).origin === u.replace(/\/$/, ""),
          "an origin: scheme://host[:port]",
        ),
    )
    .default([]),
});
export type UsersConfig = z.infer<typeof usersConfigSchema>;

/** The login limits of a parsed config. */
export interface LoginLimits {
  windowSeconds: number;
  maxFailuresPerUser: number;
  maxFailuresPerAddress: number;
}

export const loginLimitsOf = (c: UsersConfig): LoginLimits => ({
  windowSeconds: c.loginWindowSeconds,
  maxFailuresPerUser: c.loginMaxFailuresPerUser,
  maxFailuresPerAddress: c.loginMaxFailuresPerAddress,
});

export const DEFAULT_LOGIN_LIMITS: LoginLimits = loginLimitsOf(usersConfigSchema.parse({}));
