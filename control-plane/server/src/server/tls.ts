/** TLS of the control plane: what it serves with, and the CA its own clients verify peers against. */
import { caOf, checkConnect, checkListen, serverTlsOf, type ServerTls } from "@drover/tls";
import { Agent, type Dispatcher } from "undici";
import type { ServerConfig } from "../config/server-config.js";

export interface ControlPlaneTls {
  /** Certificate and key of the API, the UI, the task API and the artifact server; unset: HTTP. */
  server?: ServerTls;
  /** PEM of `DROVER_TLS_CA`: what the output-processor's and vm-service's certificates are checked against. */
  ca?: string;
  /** For `fetch` to Drover's own services (verifies against `ca`); unset: Node's defaults. */
  dispatcher?: Dispatcher;
}

/**
 * Reads `DROVER_TLS_CERT`/`DROVER_TLS_KEY`/`DROVER_TLS_CA`; refuses a plaintext API beyond
 * loopback (`DROVER_ERR_PLAINTEXT_REFUSED`) unless `DROVER_ALLOW_PLAINTEXT=true`.
 */
export function controlPlaneTls(config: ServerConfig): ControlPlaneTls {
  const server = serverTlsOf({ DROVER_TLS_CERT: config.tlsCert, DROVER_TLS_KEY: config.tlsKey });
  checkListen({
    service: "the control plane's API",
    host: config.host,
    tls: server !== undefined,
    allowPlaintext: config.allowPlaintext,
    hostVariable: "DROVER_HOST",
  });
  const ca = caOf({ DROVER_TLS_CA: config.tlsCa });
  return {
    ...(server ? { server } : {}),
    ...(ca ? { ca, dispatcher: new Agent({ connect: { ca } }) } : {}),
  };
}

/**
 * Refuses plaintext connections beyond loopback (`DROVER_ERR_PLAINTEXT_REFUSED`) to the
 * database, Redis, Vault, Nomad, vm-service and the output-processor, unless
 * `DROVER_ALLOW_PLAINTEXT=true`.
 */
export function checkPeers(
  config: ServerConfig,
  more: { vault?: string | undefined; nomad?: string | undefined; vm?: string | undefined },
): void {
  const peers: Array<[string, string | undefined, string]> = [
    ["PostgreSQL", config.databaseUrl, "DATABASE_URL"],
    ["Redis", config.redisUrl, "REDIS_URL"],
    ["the output-processor", config.outputUrl, "DROVER_OUTPUT_URL"],
    ["Vault", more.vault, "VAULT_ADDR"],
    ["Nomad", more.nomad, "NOMAD_ADDR"],
    ["vm-service", more.vm, "DROVER_VM_URL"],
  ];
  for (const [peer, url, variable] of peers) {
    if (url) checkConnect({ peer, url, allowPlaintext: config.allowPlaintext, variable });
  }
}
