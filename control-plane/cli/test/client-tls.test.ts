/** The CLI's API client against servers with bad certificates: each refusal names the problem. */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { createCa, createCertificate, type KeyPair } from "@drover/tls";
import { DroverClient } from "../src/client.js";

let dir: string;
let ca: KeyPair;
const servers: Server[] = [];

async function serve(pair: KeyPair, host = "127.0.0.1"): Promise<string> {
  const server = createServer(pair, (_req, res) => {
    res.setHeader("content-type", "application/json");
    res.end(JSON.stringify({ id: "u", login: "admin", name: "admin", role: "admin" }));
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, host, r));
  return `https://${host}:${(server.address() as AddressInfo).port}`;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "drover-client-tls-"));
  ca = await createCa();
  writeFileSync(join(dir, "ca.pem"), ca.cert);
});
afterAll(() => {
  for (const s of servers) s.close();
  rmSync(dir, { recursive: true, force: true });
});

const client = (url: string) => new DroverClient(url, "t", { tlsCa: join(dir, "ca.pem") });

it("trusts a server whose certificate the CA signed", async () => {
  const url = await serve(await createCertificate(ca, { kind: "server" }));
  expect((await client(url).me()).login).toBe("admin");
});

it("refuses an expired certificate (DROVER_ERR_TLS_CERT_EXPIRED)", async () => {
  const url = await serve(
    await createCertificate(ca, {
      kind: "server",
      now: new Date(Date.now() - 40 * 86_400_000),
      days: 1,
    }),
  );
  await expect(client(url).me()).rejects.toMatchObject({
    code: "DROVER_ERR_TLS_CERT_EXPIRED",
    message: expect.stringMatching(/the Drover server at https:.* has expired/),
  });
});

it("refuses a certificate of another CA (DROVER_ERR_TLS_UNKNOWN_CA)", async () => {
  const url = await serve(await createCertificate(await createCa(), { kind: "server" }));
  await expect(client(url).me()).rejects.toMatchObject({
    code: "DROVER_ERR_TLS_UNKNOWN_CA",
    message: expect.stringMatching(/not signed by a trusted CA .*DROVER_TLS_CA/),
  });
});

it("refuses a certificate for another name (DROVER_ERR_TLS_NAME_MISMATCH)", async () => {
  // The certificate names localhost, 127.0.0.1 and ::1; served on 127.0.0.2 (loopback too).
  const url = await serve(await createCertificate(ca, { kind: "server" }), "127.0.0.2");
  const err = await client(url)
    .me()
    .catch((e: unknown) => e);
  expect(err).toMatchObject({ code: "DROVER_ERR_TLS_NAME_MISMATCH" });
  expect((err as Error).message).toMatch(/does not name the host connected to/);
});

it("a missing CA file is a configuration error naming DROVER_TLS_CA", () => {
  expect(() => new DroverClient("https://x", "t", { tlsCa: join(dir, "nope.pem") })).toThrow(
    /DROVER_TLS_CA: cannot read .*nope.pem \(ENOENT\)/,
  );
});
