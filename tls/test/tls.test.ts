import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { createServer, request, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  CA_FILES,
  TlsError,
  checkConnect,
  checkListen,
  connectOptions,
  createCa,
  createCertificate,
  ensureLocalTls,
  serverTlsOf,
  tlsFailure,
  writeNewFiles,
  type ClientTls,
  type KeyPair,
} from "@drover/tls";

/** A GET over TLS to `url`; rejects with the TLS failure named (or the raw error). */
function get(url: string, tls: ClientTls): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ...connectOptions(tls) }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on("error", (err) => reject(tlsFailure(err, { peer: `the server at ${url}` }) ?? err));
    req.end();
  });
}

async function serve(pair: KeyPair): Promise<{ url: string; server: Server }> {
  const server = createServer({ cert: pair.cert, key: pair.key }, (_req, res) => res.end("ok"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/`, server };
}

describe("certificates", () => {
  let ca: KeyPair;
  const servers: Server[] = [];
  beforeAll(async () => {
    ca = await createCa();
  });
  afterAll(() => {
    for (const s of servers) s.close();
  });

  it("makes a CA, and server/client certificates it signed with the names asked for", async () => {
    const caCert = new X509Certificate(ca.cert);
    expect(caCert.ca).toBe(true);
    const server = await createCertificate(ca, {
      kind: "server",
      dns: ["ci.example.com"],
      ips: ["10.1.2.3"],
      days: 30,
    });
    const x = new X509Certificate(server.cert);
    expect(x.checkIssued(caCert)).toBe(true);
    expect(x.verify(caCert.publicKey)).toBe(true);
    expect(x.checkHost("ci.example.com")).toBe("ci.example.com");
    expect(x.checkHost("localhost")).toBe("localhost");
    expect(x.checkIP("10.1.2.3")).toBe("10.1.2.3");
    expect(x.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(x.keyUsage).toContain("1.3.6.1.5.5.7.3.1"); // serverAuth
    const client = new X509Certificate((await createCertificate(ca, { kind: "client" })).cert);
    expect(client.keyUsage).toEqual(["1.3.6.1.5.5.7.3.2"]); // clientAuth only
    await expect(createCertificate(ca, { kind: "server", ips: ["nope"] })).rejects.toThrow(
      /not an IP/,
    );
  });

  it("a server with a certificate of the CA is verified against the CA", async () => {
    const { url, server } = await serve(await createCertificate(ca, { kind: "server" }));
    servers.push(server);
    expect(await get(url, { ca: ca.cert })).toBe(200);
  });

  it("refuses an expired certificate, naming it (DROVER_ERR_TLS_CERT_EXPIRED)", async () => {
    const expired = await createCertificate(ca, {
      kind: "server",
      now: new Date(Date.now() - 10 * 86_400_000),
      days: 2,
    });
    const { url, server } = await serve(expired);
    servers.push(server);
    const err = await get(url, { ca: ca.cert }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TlsError);
    expect(err).toMatchObject({ code: "DROVER_ERR_TLS_CERT_EXPIRED" });
    expect((err as Error).message).toMatch(/has expired \(CERT_HAS_EXPIRED\)/);
  });

  it("refuses a certificate of another CA, naming it (DROVER_ERR_TLS_UNKNOWN_CA)", async () => {
    const other = await createCa({ commonName: "someone else" });
    const { url, server } = await serve(await createCertificate(other, { kind: "server" }));
    servers.push(server);
    const err = await get(url, { ca: ca.cert }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: "DROVER_ERR_TLS_UNKNOWN_CA" });
    expect((err as Error).message).toMatch(/not signed by a trusted CA .*DROVER_TLS_CA/);
    // A self-signed CA as the server's own certificate: also an unknown CA.
    const selfSigned = await serve(other);
    servers.push(selfSigned.server);
    await expect(get(selfSigned.url, { ca: ca.cert })).rejects.toMatchObject({
      code: "DROVER_ERR_TLS_UNKNOWN_CA",
    });
  });

  it("refuses a certificate for another name, naming it (DROVER_ERR_TLS_NAME_MISMATCH)", async () => {
    // A client certificate names no host at all.
    const { url, server } = await serve(
      await createCertificate(ca, { kind: "server", commonName: "elsewhere", dns: [], ips: [] }),
    );
    servers.push(server);
    // Served names include 127.0.0.1, so ask for another name on the same address.
    const err = await get(url, { ca: ca.cert, servername: "ci.example.com" }).catch(
      (e: unknown) => e,
    );
    expect(err).toMatchObject({ code: "DROVER_ERR_TLS_NAME_MISMATCH" });
    expect((err as Error).message).toMatch(/does not name the host/);
  });
});

describe("files", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), "drover-tls-"));
  });
  afterAll(() => rm(dir, { recursive: true, force: true }));

  it("writes new files only, keys 0600, and refuses to overwrite", async () => {
    const ca = await createCa();
    const paths = await writeNewFiles(dir, { [CA_FILES.cert]: ca.cert, [CA_FILES.key]: ca.key });
    expect(paths).toHaveLength(2);
    expect((await stat(join(dir, CA_FILES.key))).mode & 0o777).toBe(0o600);
    await expect(writeNewFiles(dir, { [CA_FILES.cert]: "x" })).rejects.toMatchObject({
      code: "DROVER_ERR_TLS_FILE_EXISTS",
    });
    expect(await readFile(join(dir, CA_FILES.cert), "utf8")).toBe(ca.cert);
  });

  it("drover up's local set: made once, kept, and renewed when it no longer names a host", async () => {
    const local = join(dir, "local");
    const first = await ensureLocalTls(local);
    expect(first.created).toBe(true);
    const cert = await readFile(first.certFile, "utf8");
    const again = await ensureLocalTls(local);
    expect(again.created).toBe(false);
    expect(await readFile(again.certFile, "utf8")).toBe(cert);
    const wider = await ensureLocalTls(local, { dns: ["ci.internal"] });
    const renewed = new X509Certificate(await readFile(wider.certFile, "utf8"));
    expect(renewed.checkHost("ci.internal")).toBe("ci.internal");
    expect(renewed.checkIssued(new X509Certificate(await readFile(first.caFile, "utf8")))).toBe(
      true,
    );
  });

  it("serverTlsOf reads the pair and names a missing half or a bad file", async () => {
    const local = await ensureLocalTls(join(dir, "local"));
    expect(
      serverTlsOf({ DROVER_TLS_CERT: local.certFile, DROVER_TLS_KEY: local.keyFile })?.cert,
    ).toMatch(/BEGIN CERTIFICATE/);
    expect(serverTlsOf({})).toBeUndefined();
    expect(() => serverTlsOf({ DROVER_TLS_CERT: local.certFile })).toThrow(/DROVER_TLS_KEY/);
    await writeFile(join(dir, "junk.pem"), "junk");
    expect(() =>
      serverTlsOf({ DROVER_TLS_CERT: join(dir, "junk.pem"), DROVER_TLS_KEY: local.keyFile }),
    ).toThrow(/DROVER_TLS_CERT: .* is not a PEM file/);
  });
});

describe("the plaintext rule", () => {
  it("listens in plaintext on loopback only, unless allowed", () => {
    for (const host of ["127.0.0.1", "::1", "localhost", "[::1]"]) {
      expect(() =>
        checkListen({ service: "the API", host, tls: false, allowPlaintext: false }),
      ).not.toThrow();
    }
    expect(() =>
      checkListen({
        service: "the API",
        host: "0.0.0.0",
        tls: false,
        allowPlaintext: false,
        hostVariable: "DROVER_HOST",
      }),
    ).toThrow(
      expect.objectContaining({
        code: "DROVER_ERR_PLAINTEXT_REFUSED",
        message: expect.stringMatching(
          /the API would listen in plaintext on 0.0.0.0 \(DROVER_HOST\)/,
        ),
      }),
    );
    expect(() =>
      checkListen({ service: "x", host: "0.0.0.0", tls: true, allowPlaintext: false }),
    ).not.toThrow();
    expect(() =>
      checkListen({ service: "x", host: "0.0.0.0", tls: false, allowPlaintext: true }),
    ).not.toThrow();
  });

  it("connects in plaintext on loopback only, unless allowed", () => {
    const refused = (url: string) => () =>
      checkConnect({ peer: "Redis", url, allowPlaintext: false, variable: "REDIS_URL" });
    expect(refused("redis://cache.internal:6379")).toThrow(/rediss:\/\//);
    expect(refused("redis://127.0.0.1:6379")).not.toThrow();
    expect(refused("rediss://cache.internal:6379")).not.toThrow();
    expect(refused("http://ci.example.com")).toThrow(/https:\/\//);
    expect(refused("https://ci.example.com")).not.toThrow();
    expect(refused("postgres://db.internal/drover")).toThrow(/sslmode/);
    expect(refused("postgres://db.internal/drover?sslmode=disable")).toThrow(/sslmode/);
    expect(refused("postgres://db.internal/drover?sslmode=verify-full")).not.toThrow();
    expect(() =>
      checkConnect({ peer: "x", url: "http://ci.example.com", allowPlaintext: true }),
    ).not.toThrow();
  });
});
