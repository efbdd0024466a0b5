/**
 * The ports table as code: which role may reach which port of which other role, derived from the
 * running configuration (ports, Vault, Nomad, object storage). Everything not listed is closed; in
 * particular Nomad clients never reach each other, nor machines each other.
 */
import type { DroverConfig } from "../config/load.js";

/** The roles of hosts in the ports table. */
export const ROLES = [
  "users",
  "monitoring",
  "control-plane",
  "output-processor",
  "vm-service",
  "nomad-servers",
  "nomad-clients",
  "machines",
  "database",
  "redis",
  "vault",
] as const;
export type NetworkRole = (typeof ROLES)[number];

export interface PortRange {
  from: number;
  to: number;
}

export interface NetworkRule {
  from: NetworkRole;
  to: NetworkRole;
  protocol: "tcp";
  ports: PortRange[];
  why: string;
}

const one = (p: number): PortRange => ({ from: p, to: p });

/** Rules for what is configured: no Vault rule without Vault, no Nomad rules without Nomad. */
export function networkRules(config: DroverConfig): NetworkRule[] {
  const s = config.server;
  const api = s.port || 8080;
  const output = s.outputPort ?? 8585;
  const artifacts = s.artifactsPort ?? 8081;
  const rules: NetworkRule[] = [
    {
      from: "users",
      to: "control-plane",
      protocol: "tcp",
      ports: [one(80), one(443), ...(api === 80 || api === 443 ? [] : [one(api)])],
      why: "web UI and API (HTTPS; 80 redirects)",
    },
    {
      from: "users",
      to: "control-plane",
      protocol: "tcp",
      ports: [one(artifacts)],
      why: "artifacts on their projects' own origins",
    },
    {
      from: "users",
      to: "output-processor",
      protocol: "tcp",
      ports: [one(output)],
      why: "live step output (WebSockets)",
    },
    {
      from: "nomad-clients",
      to: "control-plane",
      protocol: "tcp",
      ports: [one(api)],
      why: "agents claim tasks, report results, upload artifacts",
    },
    {
      from: "nomad-clients",
      to: "output-processor",
      protocol: "tcp",
      ports: [one(output)],
      why: "agents stream step output",
    },
    {
      from: "control-plane",
      to: "vm-service",
      protocol: "tcp",
      ports: [one(3000)],
      why: "leases for machine jobs and setup_remote_docker",
    },
    {
      from: "vm-service",
      to: "machines",
      protocol: "tcp",
      ports: [one(22), one(2376)],
      why: "provisioning: SSH, then Docker TLS",
    },
    {
      from: "nomad-clients",
      to: "machines",
      protocol: "tcp",
      ports: [one(22), one(2376)],
      why: "machine jobs over SSH; remote Docker over TLS",
    },
    {
      from: "users",
      to: "nomad-clients",
      protocol: "tcp",
      ports: [{ from: 64535, to: 65535 }],
      why: "rerun with SSH into docker jobs",
    },
    {
      from: "users",
      to: "machines",
      protocol: "tcp",
      ports: [one(54782)],
      why: "rerun with SSH into machine jobs",
    },
    {
      from: "monitoring",
      to: "control-plane",
      protocol: "tcp",
      ports: [one(api)],
      why: "/healthz, /readyz, /metrics",
    },
    {
      from: "monitoring",
      to: "output-processor",
      protocol: "tcp",
      ports: [one(output)],
      why: "/healthz, /readyz, /metrics",
    },
    {
      from: "monitoring",
      to: "vm-service",
      protocol: "tcp",
      ports: [one(3000)],
      why: "/healthz, /readyz, /metrics",
    },
    {
      from: "control-plane",
      to: "database",
      protocol: "tcp",
      ports: [one(portOf(s.databaseUrl, 5432))],
      why: "state (PostgreSQL)",
    },
    {
      from: "vm-service",
      to: "database",
      protocol: "tcp",
      ports: [one(portOf(s.databaseUrl, 5432))],
      why: "leases (PostgreSQL)",
    },
  ];
  if (s.redisUrl) {
    const p = one(portOf(s.redisUrl, 6379));
    rules.push(
      {
        from: "output-processor",
        to: "redis",
        protocol: "tcp",
        ports: [p],
        why: "pub/sub between output-processors",
      },
      {
        from: "control-plane",
        to: "redis",
        protocol: "tcp",
        ports: [p],
        why: "live output of in-process output-processors",
      },
    );
  }
  if (config.secretStore.kind === "vault") {
    rules.push({
      from: "control-plane",
      to: "vault",
      protocol: "tcp",
      ports: [one(portOf(config.secretStore.addr, 8200))],
      why: "secrets (Vault transit)",
    });
  }
  if (config.nomad) {
    rules.push(
      {
        from: "control-plane",
        to: "nomad-servers",
        protocol: "tcp",
        ports: [one(portOf(config.nomad.client.address, 4646))],
        why: "Nomad HTTP API: submit and watch task jobs",
      },
      {
        from: "nomad-clients",
        to: "nomad-servers",
        protocol: "tcp",
        ports: [one(4647)],
        why: "Nomad RPC",
      },
    );
  }
  return rules;
}

function portOf(url: string | undefined, fallback: number): number {
  if (!url) return fallback;
  try {
    const u = new URL(url);
    return u.port ? Number(u.port) : u.protocol === "https:" ? 443 : fallback;
  } catch {
    return fallback;
  }
}
