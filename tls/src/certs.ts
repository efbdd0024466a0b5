/**
 * Certificates of a Drover deployment, in the shape of `nomad tls`: one CA, server certificates
 * naming the hosts that serve, client certificates for mutual TLS. RSA keys come from Node's
 * crypto (off the event loop); certificates are built and signed by node-forge.
 */
import { generateKeyPair, randomBytes, X509Certificate } from "node:crypto";
import { isIP } from "node:net";
import { promisify } from "node:util";
import forge from "node-forge";

/** A PEM certificate and its PEM private key. */
export interface KeyPair {
  cert: string;
  key: string;
}

export interface CaOptions {
  /** Subject common name (default `Drover Agent CA`, as `nomad tls ca create` names its own). */
  commonName?: string;
  /** Validity in days (default 5 years). */
  days?: number;
  /** Start of validity (tests make expired certificates with a past date). */
  now?: Date;
}

export interface CertOptions {
  /** `server`: serverAuth (and clientAuth, as Nomad's are); `client`: clientAuth only. */
  kind: "server" | "client";
  /** DNS names of the subjectAltName; a server certificate always names `localhost`. */
  dns?: string[];
  /** IP addresses of the subjectAltName; a server certificate always names 127.0.0.1 and ::1. */
  ips?: string[];
  commonName?: string;
  /** Validity in days (default 1 year). */
  days?: number;
  now?: Date;
}

const DAY_MS = 86_400_000;
const generateRsa = promisify(generateKeyPair);

async function rsaKey(): Promise<{
  privateKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
}> {
  const { privateKey } = await generateRsa("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const key = forge.pki.privateKeyFromPem(pem);
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) };
}

function skeleton(
  commonName: string,
  publicKey: forge.pki.rsa.PublicKey,
  now: Date,
  days: number,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive 16-byte serial (high bit clear).
  cert.serialNumber = `01${randomBytes(15).toString("hex")}`;
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * DAY_MS);
  cert.setSubject([{ name: "commonName", value: commonName }]);
  return cert;
}

/** A new self-signed CA. */
export async function createCa(opts: CaOptions = {}): Promise<KeyPair> {
  const { privateKey, publicKey } = await rsaKey();
  const cert = skeleton(
    opts.commonName ?? "Drover Agent CA",
    publicKey,
    opts.now ?? new Date(),
    opts.days ?? 5 * 365,
  );
  cert.setIssuer(cert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: true, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  cert.sign(privateKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(privateKey) };
}

/** A server or client certificate signed by `ca`. */
export async function createCertificate(ca: KeyPair, opts: CertOptions): Promise<KeyPair> {
  const caCert = forge.pki.certificateFromPem(ca.cert);
  const caKey = forge.pki.privateKeyFromPem(ca.key);
  const server = opts.kind === "server";
  const dns = unique([...(server ? ["localhost"] : []), ...(opts.dns ?? [])]);
  const ips = unique([...(server ? ["127.0.0.1", "::1"] : []), ...(opts.ips ?? [])]);
  for (const ip of ips) {
    if (!isIP(ip)) throw new TypeError(`not an IP address: ${ip}`);
  }
  const { privateKey, publicKey } = await rsaKey();
  const cert = skeleton(
    opts.commonName ??
      (server ? (dns.find((d) => d !== "localhost") ?? "server.drover") : "client.drover"),
    publicKey,
    opts.now ?? new Date(),
    opts.days ?? 365,
  );
  cert.setIssuer(caCert.subject.attributes);
  cert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: server, clientAuth: true },
    {
      name: "authorityKeyIdentifier",
      keyIdentifier: caCert.generateSubjectKeyIdentifier().getBytes(),
    },
    ...(dns.length + ips.length > 0
      ? [
          {
            name: "subjectAltName",
            altNames: [
              ...dns.map((value) => ({ type: 2, value })),
              ...ips.map((ip) => ({ type: 7, ip })),
            ],
          },
        ]
      : []),
  ]);
  cert.sign(caKey, forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(cert), key: forge.pki.privateKeyToPem(privateKey) };
}

/** What a certificate says of itself (Node's parser), for `drover doctor` and messages. */
export function describeCertificate(pem: string): {
  subject: string;
  issuer: string;
  validTo: Date;
  names: string[];
} {
  const x = new X509Certificate(pem);
  return {
    subject: x.subject,
    issuer: x.issuer,
    validTo: new Date(x.validTo),
    names: (x.subjectAltName ?? "").split(/,\s*/).filter(Boolean),
  };
}

function unique(values: string[]): string[] {
  return [...new Set(values)];
}
