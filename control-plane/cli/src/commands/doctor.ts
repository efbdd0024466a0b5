/**
 * `drover doctor`: checks a running deployment from here. Each service (control plane,
 * output-processor, vm-service) answers `/healthz` and `/readyz`, says its version and TLS state
 * (certificate verified against `DROVER_TLS_CA`, days left); each dependency its `/readyz` names
 * (database, Redis, log store, vm-service ...) is reachable.
 */
import { connect, type PeerCertificate } from "node:tls";
import process from "node:process";
import { readPem, tlsFailure } from "@drover/tls";
import { Agent } from "undici";
import { parseCommand } from "../args.js";
import { storedCliSettings } from "../settings.js";

const USAGE =
  "usage: drover doctor [--json]\n\n" +
  "Checks the Drover at DROVER_URL (else the one `drover up` saved here), its output-processor\n" +
  "(as the server's /healthz names it, or DROVER_OUTPUT_URL) and vm-service (DROVER_VM_URL or\n" +
  "saved): /healthz, /readyz and each dependency they check, version, and TLS (verified against\n" +
  "DROVER_TLS_CA). Exit code 1 when anything is not well.\n";

interface Check {
  ok: boolean;
  detail: string;
}

/** What doctor found of one service. */
export interface ServiceReport {
  service: string;
  url: string;
  health: Check;
  ready: Check;
  version: string | null;
  tls: Check & { enabled: boolean; daysLeft?: number };
  dependencies: Record<string, Check>;
}

const TIMEOUT_MS = 5_000;

export async function run(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {
    name: "drover doctor",
    usage: USAGE,
    options: { json: { type: "boolean" } },
  });
  const stored = process.env.DROVER_URL ? {} : storedCliSettings(process.cwd());
  const url = process.env.DROVER_URL || stored.url || "http://127.0.0.1:8080";
  const caFile = process.env.DROVER_TLS_CA || stored.tlsCa;
  const ca = caFile ? readPem(caFile, "DROVER_TLS_CA") : undefined;
  const dispatcher = new Agent({ connect: ca ? { ca } : {} });
  try {
    const reports: ServiceReport[] = [];
    const cp = await inspect("control plane", url, { ca, dispatcher });
    reports.push(cp.report);
    const outputUrl =
      process.env.DROVER_OUTPUT_URL ||
      (typeof cp.health?.output_url === "string" ? cp.health.output_url : undefined) ||
      stored.outputUrl;
    if (outputUrl)
      reports.push((await inspect("output-processor", outputUrl, { ca, dispatcher })).report);
    const vmUrl = process.env.DROVER_VM_URL || stored.vmUrl;
    if (vmUrl) reports.push((await inspect("vm-service", vmUrl, { ca, dispatcher })).report);
    const ok = reports.every(
      (r) =>
        r.health.ok && r.ready.ok && r.tls.ok && Object.values(r.dependencies).every((d) => d.ok),
    );
    if (values.json) process.stdout.write(`${JSON.stringify({ ok, services: reports })}\n`);
    else process.stdout.write(render(reports, ok));
    return ok ? 0 : 1;
  } finally {
    await dispatcher.close();
  }
}

async function inspect(
  service: string,
  url: string,
  opts: { ca: string | undefined; dispatcher: Agent },
): Promise<{ report: ServiceReport; health: Record<string, unknown> | undefined }> {
  const peer = `${service} at ${url}`;
  const get = async (path: string): Promise<{ check: Check; body: unknown }> => {
    try {
      const res = await fetch(new URL(path, url), {
        dispatcher: opts.dispatcher,
        signal: AbortSignal.timeout(TIMEOUT_MS),
      } as RequestInit);
      const text = await res.text();
      let body: unknown = text;
      try {
        body = JSON.parse(text) as unknown;
      } catch {
        // text (the output-processor's `ok`)
      }
      return { check: { ok: res.ok, detail: `${res.status}` }, body };
    } catch (err) {
      const tls = tlsFailure(err, { peer });
      const reason = tls?.message ?? ((err as Error).cause as Error | undefined)?.message;
      return { check: { ok: false, detail: reason ?? String(err) }, body: undefined };
    }
  };
  const [health, ready, tls] = await Promise.all([
    get("/healthz"),
    get("/readyz"),
    tlsState(url, opts.ca, peer),
  ]);
  const healthBody =
    health.body && typeof health.body === "object"
      ? (health.body as Record<string, unknown>)
      : undefined;
  const checks = (ready.body as { checks?: Record<string, Check> } | undefined)?.checks ?? {};
  return {
    report: {
      service,
      url,
      health: health.check,
      ready: ready.check,
      version: typeof healthBody?.version === "string" ? healthBody.version : null,
      tls,
      dependencies: Object.fromEntries(
        Object.entries(checks).map(([k, v]) => [
          k,
          { ok: v.ok === true, detail: String(v.detail) },
        ]),
      ),
    },
    health: healthBody,
  };
}

/** The certificate the service presents, verified against `ca` (Node's roots without one). */
function tlsState(
  url: string,
  ca: string | undefined,
  peer: string,
): Promise<ServiceReport["tls"]> {
  const u = new URL(url);
  if (u.protocol !== "https:" && u.protocol !== "wss:") {
    return Promise.resolve({ enabled: false, ok: true, detail: "plaintext" });
  }
  return new Promise((resolve) => {
    const socket = connect({
      host: u.hostname.replace(/^\[|\]$/g, ""),
      port: Number(u.port || 443),
      ...(ca ? { ca } : {}),
      ...(/^[\d.:[\]]+$/.test(u.hostname) ? {} : { servername: u.hostname }),
      timeout: TIMEOUT_MS,
    });
    const done = (r: ServiceReport["tls"]): void => {
      socket.destroy();
      resolve(r);
    };
    socket.once("secureConnect", () => {
      const cert: PeerCertificate = socket.getPeerCertificate();
      const daysLeft = Math.floor((new Date(cert.valid_to).getTime() - Date.now()) / 86_400_000);
      done({
        enabled: true,
        ok: true,
        daysLeft,
        detail: `verified (${cert.subject?.CN ?? "no CN"}, issued by ${cert.issuer?.CN ?? "?"}, ${daysLeft} days left)`,
      });
    });
    socket.once("error", (err) =>
      done({ enabled: true, ok: false, detail: tlsFailure(err, { peer })?.message ?? err.message }),
    );
    socket.once("timeout", () =>
      done({ enabled: true, ok: false, detail: "no TLS handshake in 5 s" }),
    );
  });
}

function render(reports: ServiceReport[], ok: boolean): string {
  const mark = (c: Check): string => (c.ok ? "ok" : `FAIL (${c.detail})`);
  const lines: string[] = [];
  for (const r of reports) {
    lines.push(`${r.service} ${r.url}${r.version ? ` version ${r.version}` : ""}`);
    const row = (label: string, text: string): number =>
      lines.push(`  ${label.padEnd(16)} ${text}`);
    row("healthz", mark(r.health));
    row("readyz", mark(r.ready));
    row("tls", r.tls.ok ? r.tls.detail : `FAIL (${r.tls.detail})`);
    for (const [name, d] of Object.entries(r.dependencies)) {
      row(name, d.ok ? `ok (${d.detail})` : `FAIL (${d.detail})`);
    }
  }
  lines.push(ok ? "all well" : "something is not well (FAIL above)");
  return `${lines.join("\n")}\n`;
}
