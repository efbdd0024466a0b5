import type { IncomingHttpHeaders } from "node:http";
import type { RequestAuthenticator } from "../api/server.js";
import { UsersError } from "./errors.js";
import { readSessionCookie, type SessionService } from "./sessions.js";

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

interface RequestLike {
  method: string;
  headers: IncomingHttpHeaders;
}

/** The set of trusted origins (`scheme://host[:port]`) from URLs; entries that are not URLs are dropped. */
export function trustedOriginSet(urls: readonly (string | undefined)[]): ReadonlySet<string> {
  const out = new Set<string>();
  for (const u of urls) {
    if (!u) continue;
    try {
      out.add(new URL(u).origin);
    } catch {
      // not a URL: trusts nothing
    }
  }
  return out;
}

/**
 * Why a write may not proceed on the strength of a session cookie, or null. Safe methods pass.
 * Otherwise the browser's `Origin` must be a trusted origin or name the host the request was
 * sent to (`Host`), as in Go's `net/http.CrossOriginProtection`; a missing or `null` Origin is
 * refused unless `allowMissing` (login, which no cookie authenticates, from a CLI).
 */
export function originProblem(
  req: RequestLike,
  trusted: ReadonlySet<string>,
  opts: { allowMissing?: boolean } = {},
): string | null {
  if (SAFE.has(req.method.toUpperCase())) return null;
  const origin = req.headers.origin;
  if (typeof origin !== "string" || origin === "") {
    return opts.allowMissing ? null : "the request has no Origin header";
  }
  let given: URL;
  try {
    given = new URL(origin);
  } catch {
    return `Origin ${origin.slice(0, 200)} is not trusted`;
  }
  if (!/^https?:$/.test(given.protocol)) {
    return `Origin ${origin.slice(0, 200)} is not trusted`;
  }
  if (trusted.has(given.origin)) return null;
  const host = req.headers.host ?? req.headers[":authority"];
  if (typeof host === "string" && host !== "") {
    try {
      if (new URL(`${given.protocol}//${host}`).host === given.host) return null;
    } catch {
      // a malformed Host matches nothing
    }
  }
  return `Origin ${given.origin} is not this server's`;
}

/** Throws `DROVER_ERR_USERS_ORIGIN` (403) when `originProblem` finds one. */
export function requireTrustedOrigin(
  req: RequestLike,
  trusted: ReadonlySet<string>,
  opts: { allowMissing?: boolean } = {},
): void {
  const problem = originProblem(req, trusted, opts);
  if (problem) {
    throw new UsersError(
      "DROVER_ERR_USERS_ORIGIN",
      `Cross-site request refused: ${problem}. Send an API token (Circle-Token) instead of the session cookie, or add the origin to DROVER_TRUSTED_ORIGINS.`,
    );
  }
}

/**
 * Authenticates API requests by the session cookie (tried when no API token is sent). A write so
 * authenticated must come from a trusted origin (`requireTrustedOrigin`); token-authenticated
 * requests never reach here. The session is read from the database on every request.
 */
export function sessionAuthenticator(
  sessions: SessionService,
  trusted: ReadonlySet<string>,
): RequestAuthenticator {
  return async (req) => {
    const token = readSessionCookie(req.headers.cookie);
    if (!token) return null;
    requireTrustedOrigin(req, trusted);
    return sessions.authenticate(token);
  };
}
