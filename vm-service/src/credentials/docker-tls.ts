/**
 * Per-machine Docker TLS material: a CA of the machine's own, a server certificate naming the
 * machine's address, and a client certificate for the job. Keys are made by Node's crypto (native,
 * fast); certificates are built and signed by node-forge.
 */
import { generateKeyPair, randomBytes } from "node:crypto";
import { promisify } from "node:util";
import forge from "node-forge";

/** PEM files as Docker names them (`ca.pem`, `cert.pem`, `key.pem` in `DOCKER_CERT_PATH`). */
export interface DockerTlsSet {
  caCert: string;
  /** Signs this machine's certificates; kept by vm-service only until the set is made. */
  serverCert: string;
  serverKey: string;
  clientCert: string;
  clientKey: string;
}

export interface DockerTlsOptions {
  /** IP addresses the server certificate is valid for (the machine's addresses). */
  ips: string[];
  /** DNS names the server certificate is valid for. */
  dnsNames?: string[];
  /** Validity; a machine lives hours, so the default is 2 days. */
  days?: number;
  now?: Date;
}

const generateRsa = promisify(generateKeyPair);

// Off the event loop: RSA key generation takes tens of milliseconds of CPU each.
async function rsaKey(): Promise<{
  privateKey: forge.pki.rsa.PrivateKey;
  publicKey: forge.pki.rsa.PublicKey;
}> {
  const { privateKey } = await generateRsa("rsa", { modulusLength: 2048 });
  const pem = privateKey.export({ type: "pkcs1", format: "pem" }).toString();
  const key = forge.pki.privateKeyFromPem(pem);
  return { privateKey: key, publicKey: forge.pki.setRsaPublicKey(key.n, key.e) };
}

function certificate(
  subjectCn: string,
  publicKey: forge.pki.rsa.PublicKey,
  now: Date,
  days: number,
): forge.pki.Certificate {
  const cert = forge.pki.createCertificate();
  cert.publicKey = publicKey;
  // Positive 16-byte serial (high bit clear).
  cert.serialNumber = `01${randomBytes(15).toString("hex")}`;
  cert.validity.notBefore = new Date(now.getTime() - 5 * 60_000);
  cert.validity.notAfter = new Date(now.getTime() + days * 86_400_000);
  cert.setSubject([{ name: "commonName", value: subjectCn }]);
  return cert;
}

/** A fresh CA, server and client certificate set for one machine. */
export async function createDockerTlsSet(opts: DockerTlsOptions): Promise<DockerTlsSet> {
  const now = opts.now ?? new Date();
  const days = opts.days ?? 2;
  const [ca, server, client] = await Promise.all([rsaKey(), rsaKey(), rsaKey()]);
  const caCert = certificate("drover machine CA", ca.publicKey, now, days);
  caCert.setIssuer(caCert.subject.attributes);
  caCert.setExtensions([
    { name: "basicConstraints", cA: true, pathLenConstraint: 0, critical: true },
    { name: "keyUsage", keyCertSign: true, cRLSign: true, critical: true },
    { name: "subjectKeyIdentifier" },
  ]);
  caCert.sign(ca.privateKey, forge.md.sha256.create());

  const serverCert = certificate(opts.ips[0] ?? "drover-machine", server.publicKey, now, days);
  serverCert.setIssuer(caCert.subject.attributes);
  serverCert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, keyEncipherment: true, critical: true },
    { name: "extKeyUsage", serverAuth: true },
    {
      name: "subjectAltName",
      altNames: [
        ...opts.ips.map((ip) => ({ type: 7, ip })),
        ...(opts.dnsNames ?? []).map((value) => ({ type: 2, value })),
      ],
    },
  ]);
  serverCert.sign(ca.privateKey, forge.md.sha256.create());

  const clientCert = certificate("drover job", client.publicKey, now, days);
  clientCert.setIssuer(caCert.subject.attributes);
  clientCert.setExtensions([
    { name: "basicConstraints", cA: false },
    { name: "keyUsage", digitalSignature: true, critical: true },
    { name: "extKeyUsage", clientAuth: true },
  ]);
  clientCert.sign(ca.privateKey, forge.md.sha256.create());

  return {
    caCert: forge.pki.certificateToPem(caCert),
    serverCert: forge.pki.certificateToPem(serverCert),
    serverKey: forge.pki.privateKeyToPem(server.privateKey),
    clientCert: forge.pki.certificateToPem(clientCert),
    clientKey: forge.pki.privateKeyToPem(client.privateKey),
  };
}
