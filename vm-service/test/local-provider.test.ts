import { execFileSync, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomUUID } from "node:crypto";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  LocalProvider,
  VmError,
  createDockerTlsSet,
  generateSshKeyPair,
  provisionMachine,
  type MachineAccess,
} from "@drover/vm-service";
import { describeDocker } from "./helpers.js";
import { providerConformance } from "./provider-conformance.js";

const log = pino({ level: "silent" });

describeDocker("local provider", () => {
  providerConformance({
    name: "local",
    make: async () => new LocalProvider({}, log),
  });

  describe("a machine reached as a VM is: real OpenSSH and real Docker over TLS", () => {
    const provider = new LocalProvider({}, log);
    const run = `test-${randomUUID()}`;
    const user = generateSshKeyPair("drover-job");
    const host = generateSshKeyPair("drover-machine");
    const dir = mkdtempSync(join(tmpdir(), "drover-vm-"));
    let id = "";
    let access: MachineAccess;
    let certs = "";
    /** The OpenSSH client's arguments: key file `key`, the machine's host key pinned. */
    const opensshArgs = (key: string, command: string): string[] => [
      ...["-i", join(dir, key), "-o", `UserKnownHostsFile=${join(dir, "known_hosts")}`],
      ...["-o", "StrictHostKeyChecking=yes", "-o", "BatchMode=yes"],
      `circleci@${access.host}`,
      command,
    ];

    beforeAll(async () => {
      [id = ""] = await provider.create([
        {
          image: "default",
          resourceClass: "medium",
          tags: { run },
          boot: { sshUser: "circleci", authorizedKey: user.publicKey, hostKey: host.privateKey },
        },
      ]);
      const [info] = await provider.describe([id]);
      const address = info?.internalAddress;
      if (!address) throw new Error("machine has no address");
      access = {
        host: address,
        sshPort: 22,
        dockerPort: 2376,
        sshUser: "circleci",
        privateKey: user.privateKey,
        hostPublicKey: host.publicKey,
      };
      const tls = await createDockerTlsSet({ ips: [address] });
      await provisionMachine(access, tls, { timeoutMs: 60_000 });
      certs = join(dir, "certs");
      execFileSync("mkdir", ["-p", certs]);
      writeFileSync(join(certs, "ca.pem"), tls.caCert);
      writeFileSync(join(certs, "cert.pem"), tls.clientCert);
      writeFileSync(join(certs, "key.pem"), tls.clientKey, { mode: 0o600 });
      writeFileSync(join(dir, "id"), user.privateKey, { mode: 0o600 });
      writeFileSync(join(dir, "known_hosts"), `${address} ${host.publicKey}\n`);
    });
    afterAll(async () => {
      await provider.destroy([id]);
    });

    it("answers the OpenSSH client with the pinned host key and the job's key", () => {
      const out = execFileSync(
        "ssh",
        opensshArgs("id", "id -un; docker version --format '{{.Server.Version}}'"),
      ).toString();
      expect(out.split("\n")[0]).toBe("circleci");
      expect(out.split("\n")[1]).toMatch(/^\d+\.\d+/);
    });

    it("refuses a key it was not given", () => {
      const other = generateSshKeyPair("someone-else");
      writeFileSync(join(dir, "other"), other.privateKey, { mode: 0o600 });
      const r = spawnSync("ssh", opensshArgs("other", "true"));
      expect(r.status).toBe(255);
      expect(r.stderr.toString()).toContain("Permission denied");
    });

    it("serves Docker on 2376 to the docker CLI with the client certificate, and only with it", () => {
      const env = {
        ...process.env,
        DOCKER_HOST: `tcp://${access.host}:2376`,
        DOCKER_TLS_VERIFY: "1",
        DOCKER_CERT_PATH: certs,
      };
      const info = execFileSync("docker", ["info", "--format", "{{.Name}}"], { env }).toString();
      expect(info.trim()).toBe("drover-machine");
      const plain = spawnSync("docker", ["-H", `tcp://${access.host}:2376`, "info"], {
        env: { PATH: process.env.PATH ?? "" },
      });
      expect(plain.status).not.toBe(0);
    });

    it("refuses a machine whose host key is not the one it was booted with", async () => {
      const impostor = generateSshKeyPair("impostor");
      const err = await provisionMachine(
        { ...access, hostPublicKey: impostor.publicKey },
        await createDockerTlsSet({ ips: [access.host] }),
        { timeoutMs: 10_000 },
      ).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(VmError);
      expect((err as VmError).code).toBe("DROVER_ERR_VM_NOT_READY");
      expect((err as VmError).message).toContain("host key");
    });
  });
});
