/** Certificate files on disk: `drover tls` writes new ones; `drover up --tls` keeps a local set. */
import { X509Certificate } from "node:crypto";
import { constants } from "node:fs";
import { mkdir, open, readFile, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { createCa, createCertificate, type KeyPair } from "./certs.js";
import { TlsError } from "./errors.js";

/** The CA's files, named as `nomad tls ca create` names its own (`nomad-agent-ca.pem`). */
export const CA_FILES = { cert: "drover-agent-ca.pem", key: "drover-agent-ca-key.pem" } as const;

/** Files of a `drover tls cert create --server|--client`: `drover-server.pem`, `drover-server-key.pem`. */
export function certFileNames(kind: "server" | "client"): { cert: string; key: string } {
  return { cert: `drover-${kind}.pem`, key: `drover-${kind}-key.pem` };
}

/**
 * Writes `files` (name -> contents) into `dir`, each created exclusively; keys (names ending
 * `-key.pem`) are 0600. Refuses (`DROVER_ERR_TLS_FILE_EXISTS`) before writing anything when one exists.
 */
export async function writeNewFiles(dir: string, files: Record<string, string>): Promise<string[]> {
  const paths = Object.keys(files).map((name) => join(dir, name));
  for (const path of paths) {
    const exists = await open(path, "r").then(
      async (h) => (await h.close(), true),
      () => false,
    );
    if (exists) {
      throw new TlsError(
        "DROVER_ERR_TLS_FILE_EXISTS",
        `${path} already exists: not overwriting it`,
      );
    }
  }
  for (const [name, contents] of Object.entries(files)) {
    const path = join(dir, name);
    const mode = name.endsWith("-key.pem") ? 0o600 : 0o644;
    const h = await open(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, mode);
    try {
      await h.writeFile(contents);
    } finally {
      await h.close();
    }
  }
  return paths;
}

/** The local CA and server certificate of `drover up --tls`, as paths. */
export interface LocalTls {
  caFile: string;
  certFile: string;
  keyFile: string;
  /** True when this call made the CA (first start). */
  created: boolean;
}

const RENEW_BEFORE_MS = 30 * 86_400_000;

async function readPair(cert: string, key: string): Promise<KeyPair | undefined> {
  try {
    return { cert: await readFile(cert, "utf8"), key: await readFile(key, "utf8") };
  } catch {
    return undefined;
  }
}

/**
 * `<dir>/drover-agent-ca.pem` and a server certificate for loopback plus `dns`/`ips`, made on
 * first use; the server certificate is made again (same CA) when it expires within 30 days or no
 * longer names every requested host.
 */
export async function ensureLocalTls(
  dir: string,
  opts: { dns?: string[]; ips?: string[]; now?: Date } = {},
): Promise<LocalTls> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, CA_FILES.cert);
  const caKeyFile = join(dir, CA_FILES.key);
  const names = certFileNames("server");
  const certFile = join(dir, names.cert);
  const keyFile = join(dir, names.key);
  let ca = await readPair(caFile, caKeyFile);
  const created = !ca;
  if (!ca) {
    ca = await createCa({ commonName: "Drover local CA", ...(opts.now ? { now: opts.now } : {}) });
    await writeFile(caKeyFile, ca.key, { mode: 0o600 });
    await writeFile(caFile, ca.cert);
  }
  const server = created ? undefined : await readPair(certFile, keyFile);
  if (!server || stale(server.cert, ca.cert, opts)) {
    const made = await createCertificate(ca, {
      kind: "server",
      ...(opts.dns ? { dns: opts.dns } : {}),
      ...(opts.ips ? { ips: opts.ips } : {}),
      ...(opts.now ? { now: opts.now } : {}),
    });
    // Key first, then the certificate by rename: a reader never pairs a new cert with an old key.
    await writeFile(keyFile, made.key, { mode: 0o600 });
    await writeFile(`${certFile}.tmp`, made.cert);
    await rename(`${certFile}.tmp`, certFile);
  }
  return { caFile, certFile, keyFile, created };
}

function stale(
  certPem: string,
  caPem: string,
  opts: { dns?: string[]; ips?: string[]; now?: Date },
): boolean {
  try {
    const cert = new X509Certificate(certPem);
    if (!cert.checkIssued(new X509Certificate(caPem))) return true;
    const now = (opts.now ?? new Date()).getTime();
    if (new Date(cert.validTo).getTime() - now < RENEW_BEFORE_MS) return true;
    const san = cert.subjectAltName ?? "";
    return (
      (opts.dns ?? []).some((d) => !san.includes(`DNS:${d}`)) ||
      (opts.ips ?? []).some((ip) => cert.checkIP(ip) === undefined)
    );
  } catch {
    return true;
  }
}
