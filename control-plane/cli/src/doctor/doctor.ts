/**
 * `drover doctor`: checks a running deployment from where it runs. Each service answers its
 * /healthz and /readyz and reports its version and TLS state; each configured dependency
 * (PostgreSQL, Redis, Vault, Nomad, object storage, vm-service) is reachable; and, given this
 * host's role and its peers' addresses, every path the ports table forbids is closed.
 */
import type { NetworkRole, NetworkRule } from "@drover/control-plane";
import { httpProbe, postgresProbe, redisPing, tcpOpen, tlsState, type Finding } from "./probes.js";

export interface DoctorTargets {
  controlPlane?: string;
  output?: string;
  vmService?: string;
  databaseUrl?: string;
  redisUrl?: string;
  vault?: { addr: string; token?: string };
  nomad?: { addr: string; token?: string };
  objectStorage?: string[];
  /** CA (PEM) the services' certificates are checked against, besides the system's. */
  ca?: string;
}

/** A service: health (with version), TLS state, readiness and its dependency checks. */
async function service(name: string, base: string, ca?: string): Promise<Finding[]> {
  const out: Finding[] = [];
  const health = await httpProbe(base, "/healthz");
  out.push({
    check: name,
    verdict: health.ok ? "ok" : "fail",
    detail: health.ok
      ? `${base} answers${health.version ? `, version ${health.version}` : ""}`
      : `${base}: ${health.error ?? `HTTP ${health.status}`}`,
  });
  if (health.status === 0) return out;
  const t = await tlsState(new URL(base), ca);
  out.push({ check: `${name} tls`, verdict: t.verdict, detail: t.detail });
  const ready = await httpProbe(base, "/readyz");
  const checks = (ready.body as { checks?: Record<string, unknown> } | null)?.checks ?? {};
  out.push({
    check: `${name} readyz`,
    verdict: ready.ok ? "ok" : "fail",
    detail: ready.ok ? "ready" : `not ready (HTTP ${ready.status})`,
  });
  for (const [dep, c] of Object.entries(checks)) {
    const ok = typeof c === "string" ? c === "ok" : (c as { ok?: boolean }).ok === true;
    const detail = typeof c === "string" ? c : String((c as { detail?: unknown }).detail ?? "");
    out.push({ check: `${name} -> ${dep}`, verdict: ok ? "ok" : "fail", detail });
  }
  return out;
}

/** Vault's /v1/sys/health codes: 200 active, 429 standby, 472/473 DR/perf standby. */
async function vault(addr: string): Promise<Finding> {
  const r = await httpProbe(addr, "/v1/sys/health");
  const meaning: Record<number, [Finding["verdict"], string]> = {
    200: ["ok", "active, unsealed"],
    429: ["ok", "standby, unsealed"],
    472: ["ok", "DR secondary"],
    473: ["ok", "performance standby"],
    501: ["fail", "not initialized"],
    503: ["fail", "sealed"],
  };
  const [verdict, what] = meaning[r.status] ?? ["fail", r.error ?? `HTTP ${r.status}`];
  const version = (r.body as { version?: string } | null)?.version;
  return {
    check: "vault",
    verdict,
    detail: `${addr}: ${what}${version ? `, version ${version}` : ""}`,
  };
}

async function nomad(addr: string, token?: string): Promise<Finding> {
  const r = await httpProbe(addr, "/v1/status/leader", token ? { "x-nomad-token": token } : {});
  return {
    check: "nomad",
    verdict: r.ok ? "ok" : "fail",
    detail: r.ok
      ? `${addr}: leader ${String(r.body)}`
      : `${addr}: ${r.error ?? `HTTP ${r.status}`}`,
  };
}

/** Every check of the services and dependencies that are configured. */
export async function checkDeployment(t: DoctorTargets): Promise<Finding[]> {
  const findings: Finding[] = [];
  if (t.controlPlane) findings.push(...(await service("control-plane", t.controlPlane, t.ca)));
  if (t.output) findings.push(...(await service("output-processor", t.output, t.ca)));
  if (t.vmService) findings.push(...(await service("vm-service", t.vmService, t.ca)));
  if (t.databaseUrl) findings.push(await postgresProbe(t.databaseUrl));
  if (t.redisUrl) findings.push(await redisPing(new URL(t.redisUrl)));
  if (t.vault) findings.push(await vault(t.vault.addr));
  if (t.nomad) findings.push(await nomad(t.nomad.addr, t.nomad.token));
  for (const endpoint of t.objectStorage ?? []) {
    const r = await httpProbe(endpoint, "/");
    findings.push({
      check: "object storage",
      verdict: r.status > 0 ? "ok" : "fail",
      detail:
        r.status > 0
          ? `${endpoint} answers (HTTP ${r.status})`
          : `${endpoint}: ${r.error ?? "no answer"}`,
    });
  }
  return findings;
}

/**
 * From a host of role `as`, tries every port the table opens on each peer's role: a port the
 * table opens from `as` should be open (closed is a warning: the service may be down); a port it
 * opens only from other roles must be closed (open is a failure). Ranges are tried at both ends.
 */
export async function checkPaths(
  rules: NetworkRule[],
  as: NetworkRole,
  peers: Array<{ role: NetworkRole; host: string }>,
): Promise<Finding[]> {
  const findings: Finding[] = [];
  for (const peer of peers) {
    const into = rules.filter((r) => r.to === peer.role);
    const allowed = new Set<number>();
    const tried = new Map<number, string>();
    for (const r of into) {
      for (const p of r.ports) {
        for (const port of p.from === p.to ? [p.from] : [p.from, p.to]) {
          if (r.from === as) allowed.add(port);
          if (!tried.has(port)) tried.set(port, r.why);
        }
      }
    }
    for (const [port, why] of [...tried].sort((x, y) => x[0] - y[0])) {
      const open = await tcpOpen(peer.host, port);
      const path = `${as} -> ${peer.role} ${peer.host}:${port}`;
      if (allowed.has(port)) {
        findings.push({
          check: path,
          verdict: open ? "ok" : "warn",
          detail: open
            ? `open, as allowed (${why})`
            : `allowed (${why}) but closed: is the service up?`,
        });
      } else {
        findings.push({
          check: path,
          verdict: open ? "fail" : "ok",
          detail: open
            ? `open, but the table allows it only from other roles (${why})`
            : "closed, as the table says",
        });
      }
    }
  }
  return findings;
}

/** The findings as an aligned table. */
export function formatFindings(findings: Finding[]): string {
  const w = Math.max(5, ...findings.map((f) => f.check.length));
  const mark = { ok: "ok  ", warn: "WARN", fail: "FAIL" } as const;
  return findings.map((f) => `${mark[f.verdict]}  ${f.check.padEnd(w)}  ${f.detail}`).join("\n");
}
