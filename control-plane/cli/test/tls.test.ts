/** `drover tls ca create` and `drover tls cert create`: files as `nomad tls` writes them, never overwritten. */
import { X509Certificate } from "node:crypto";
import { mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, expect, it, vi } from "vitest";
import { runCli } from "../src/index.js";

let out = "";
let err = "";
let dir: string;
const cwd = process.cwd();
beforeEach(async () => {
  out = "";
  err = "";
  vi.spyOn(process.stdout, "write").mockImplementation((c: string | Uint8Array) => {
    out += String(c);
    return true;
  });
  vi.spyOn(process.stderr, "write").mockImplementation((c: string | Uint8Array) => {
    err += String(c);
    return true;
  });
  dir = await mkdtemp(join(tmpdir(), "drover-cli-tls-"));
  process.chdir(dir);
});
afterEach(async () => {
  vi.restoreAllMocks();
  process.chdir(cwd);
  await rm(dir, { recursive: true, force: true });
});

it("makes a CA, then server and client certificates signed by it, and refuses to overwrite", async () => {
  expect(await runCli(["tls", "ca", "create"])).toBe(0);
  expect(out).toContain("drover-agent-ca.pem");
  expect((await stat(join(dir, "drover-agent-ca-key.pem"))).mode & 0o777).toBe(0o600);
  const ca = new X509Certificate(await readFile(join(dir, "drover-agent-ca.pem")));
  expect(ca.ca).toBe(true);

  const args = ["tls", "cert", "create", "--server", "--dns", "ci.example.com", "--ip", "10.0.0.5"];
  expect(await runCli([...args, "--days", "30"])).toBe(0);
  const server = new X509Certificate(await readFile(join(dir, "drover-server.pem")));
  expect(server.checkIssued(ca)).toBe(true);
  expect(server.checkHost("ci.example.com")).toBe("ci.example.com");
  expect(server.checkIP("10.0.0.5")).toBe("10.0.0.5");
  expect(new Date(server.validTo).getTime() - Date.now()).toBeLessThan(31 * 86_400_000);
  expect(await readFile(join(dir, "drover-server-key.pem"), "utf8")).toMatch(/PRIVATE KEY/);

  expect(await runCli(["tls", "cert", "create", "--client"])).toBe(0);
  expect(new X509Certificate(await readFile(join(dir, "drover-client.pem"))).checkIssued(ca)).toBe(
    true,
  );

  err = "";
  expect(await runCli(args)).toBe(1);
  expect(err).toMatch(/drover-server.pem already exists: not overwriting it/);
  expect(await runCli(["tls", "ca", "create"])).toBe(1);
  expect(err).toMatch(/drover-agent-ca.pem already exists/);
});

it("names what is wrong with the command line or a missing CA", async () => {
  expect(await runCli(["tls", "cert", "create"])).toBe(2);
  expect(err).toMatch(/give one of --server or --client/);
  expect(await runCli(["tls", "cert", "create", "--server", "--ip", "not-an-ip"])).toBe(2);
  expect(err).toMatch(/--ip not-an-ip: not an IP address/);
  err = "";
  expect(await runCli(["tls", "cert", "create", "--server"])).toBe(1);
  expect(err).toMatch(/--ca drover-agent-ca.pem: cannot read it \(ENOENT\); make a CA/);
});
