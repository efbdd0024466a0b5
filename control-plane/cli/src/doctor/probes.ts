/**
 * The probes `drover doctor` is made of: an HTTP(S) service's health and version, its TLS state,
 * a TCP port, Redis and PostgreSQL. Each resolves to a `Finding`, never throws.
 */
import net from "node:net";
import tls from "node:tls";
import pg from "pg";

export type Verdict = "ok" | "warn" | "fail";

export interface Finding {
  check: string;
  verdict: Verdict;
  detail: string;
}

const LOOPBACK = /^(127\.|::1$|localhost$|\[::1\]$)/;

/** Whether a host name or address is this host's loopback. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.test(host);
}

/** The TLS state of a URL: the peer certificate (issuer, expiry, verified) or plaintext. */
export async function tlsState(
  url: URL,
  ca?: string,
): Promise<{ verdict: Verdict; detail: string }> {
  if (url.protocol !== "https:" && url.protocol !== "rediss:") {
    return isLoopback(url.hostname)
      ? { verdict: "ok", detail: "plaintext on loopback" }
      : { verdict: "warn", detail: "plaintext outside loopback (TLS is off)" };
  }
  const port = Number(url.port) || 443;
  return new Promise((resolve) => {
    const socket = tls.connect({
      host: url.hostname.replace(/^\[|\]$/g, ""),
      port,
      servername: net.isIP(url.hostname) ? undefined : url.hostname,
      rejectUnauthorized: false,
      ...(ca ? { ca } : {}),
      timeout: 3_000,
    });
    const done = (r: { verdict: Verdict; detail: string }): void => {
      socket.destroy();
      resolve(r);
    };
    socket.once("secureConnect", () => {
      const cert = socket.getPeerCertificate();
      const days = Math.floor((new Date(cert.valid_to).getTime() - Date.now()) / 86_400_000);
      const what = `${socket.getProtocol() ?? "TLS"}, certificate ${cert.subject?.CN ?? "?"} by ${cert.issuer?.CN ?? "?"}, expires in ${days} days`;
      if (!socket.authorized) {
        done({
          verdict: "fail",
          detail: `${what}; not trusted: ${String(socket.authorizationError)}`,
        });
      } else if (days < 14) done({ verdict: "warn", detail: `${what} (renew soon)` });
      else done({ verdict: "ok", detail: what });
    });
    socket.once("timeout", () => done({ verdict: "fail", detail: "TLS handshake timed out" }));
    socket.once("error", (err) => done({ verdict: "fail", detail: `TLS: ${err.message}` }));
  });
}

/** GET `path` of a service: its status, the version it reports (header or body), and the body. */
export async function httpProbe(
  base: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<{ ok: boolean; status: number; version?: string; body: unknown; error?: string }> {
  try {
    const res = await fetch(new URL(path, base), { headers, signal: AbortSignal.timeout(5_000) });
    const text = await res.text();
    let body: unknown = text;
    try {
      body = JSON.parse(text) as unknown;
    } catch {
      // plain text
    }
    const fromBody =
      body && typeof body === "object" && "version" in body
        ? String((body as { version: unknown }).version)
        : undefined;
    const version = res.headers.get("x-drover-version") ?? fromBody;
    return { ok: res.ok, status: res.status, body, ...(version ? { version } : {}) };
  } catch (err) {
    const cause = (err as { cause?: { code?: string; message?: string } }).cause;
    return {
      ok: false,
      status: 0,
      body: null,
      error: cause?.code ?? cause?.message ?? (err as Error).message,
    };
  }
}

/** Whether a TCP connection to host:port is accepted within `ms`. */
export function tcpOpen(host: string, port: number, ms = 1_500): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const end = (open: boolean): void => {
      s.destroy();
      resolve(open);
    };
    s.setTimeout(ms, () => end(false));
    s.once("connect", () => end(true));
    s.once("error", () => end(false));
  });
}

/** Redis answers PING (over TLS for `rediss://`). */
export function redisPing(url: URL, ms = 3_000): Promise<Finding> {
  const port = Number(url.port) || 6379;
  const host = url.hostname.replace(/^\[|\]$/g, "");
  return new Promise((resolve) => {
    const s =
      url.protocol === "rediss:"
        ? tls.connect({ host, port, servername: net.isIP(host) ? undefined : host })
        : net.connect({ host, port });
    let got = "";
    const done = (verdict: Verdict, detail: string): void => {
      s.destroy();
      resolve({ check: "redis", verdict, detail });
    };
    s.setTimeout(ms, () => done("fail", `no answer from ${host}:${port} in ${ms / 1000} s`));
    s.once(url.protocol === "rediss:" ? "secureConnect" : "connect", () => {
      const auth = url.password
        ? `AUTH ${url.username ? `${decodeURIComponent(url.username)} ` : ""}${decodeURIComponent(url.password)}\r\n`
        : "";
      s.write(`${auth}PING\r\n`);
    });
    s.on("data", (d: Buffer) => {
      got += d.toString();
      if (got.includes("+PONG"))
        done("ok", `${host}:${port} answers PING${url.protocol === "rediss:" ? " (TLS)" : ""}`);
      else if (got.startsWith("-")) done("fail", `${host}:${port}: ${got.trim()}`);
    });
    s.once("error", (err) => done("fail", `${host}:${port}: ${err.message}`));
  });
}

/** PostgreSQL accepts a connection and a query; reports its version and whether SSL is on. */
export async function postgresProbe(url: string): Promise<Finding> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3_000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
    const { rows } = await client.query<{ v: string; ssl: boolean | null }>(
      "SELECT current_setting('server_version') AS v, (SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()) AS ssl",
    );
    const r = rows[0];
    const host = new URL(url).host;
    return {
      check: "database",
      verdict: "ok",
      detail: `PostgreSQL ${r?.v ?? "?"} at ${host}, ${r?.ssl ? "SSL" : "no SSL"}`,
    };
  } catch (err) {
    return { check: "database", verdict: "fail", detail: (err as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}
