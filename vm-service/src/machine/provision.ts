/**
 * Makes a running machine ready for a job: waits for its SSH server (pinning the host key it was
 * booted with), installs its Docker TLS files over that connection once its address is known, and
 * waits for Docker on 2376 to answer a client certificate. The same steps serve every provider.
 */
import { setTimeout as sleep } from "node:timers/promises";
import { request } from "node:https";
import ssh2 from "ssh2";
import { VmError } from "../errors.js";
import { sshFingerprint } from "../credentials/ssh.js";
import type { DockerTlsSet } from "../credentials/docker-tls.js";

/** How to reach one machine and prove who it is. */
export interface MachineAccess {
  host: string;
  sshPort: number;
  dockerPort: number;
  sshUser: string;
  /** OpenSSH private key of `sshUser`. */
  privateKey: string;
  /** The host key's public line the machine was booted with. */
  hostPublicKey: string;
}

export interface ProvisionOptions {
  /** Gives up after this long (default 6 minutes, as CircleCI's machine start limit). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Runs one command over SSH; resolves with its exit code and output. */
export async function sshExec(
  access: MachineAccess,
  command: string,
  stdin?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const conn = await sshConnect(access, 10_000);
  try {
    return await new Promise((resolve, reject) => {
      conn.exec(command, (err, stream) => {
        if (err) return reject(err);
        let stdout = "";
        let stderr = "";
        stream.on("data", (d: Buffer) => (stdout += d.toString()));
        stream.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
        stream.on("close", (code: number | null) => resolve({ code: code ?? -1, stdout, stderr }));
        stream.end(stdin ?? "");
      });
    });
  } finally {
    conn.end();
  }
}

/** An SSH connection that refuses any host key but the machine's own. */
export function sshConnect(access: MachineAccess, readyTimeout: number): Promise<ssh2.Client> {
  const expected = sshFingerprint(access.hostPublicKey);
  return new Promise((resolve, reject) => {
    const conn = new ssh2.Client();
    let hostKeyMismatch: string | null = null;
    conn
      .on("ready", () => resolve(conn))
      .on("error", (err) =>
        reject(
          hostKeyMismatch
            ? new VmError("DROVER_ERR_VM_NOT_READY", hostKeyMismatch, { cause: err })
            : err,
        ),
      )
      .connect({
        host: access.host,
        port: access.sshPort,
        username: access.sshUser,
        privateKey: access.privateKey,
        readyTimeout,
        // A machine that vanishes (destroyed, host down) ends the connection in about 15 s.
        keepaliveInterval: 5_000,
        keepaliveCountMax: 3,
        hostVerifier: (key: Buffer) => {
          const got = sshFingerprint(`ssh-ed25519 ${key.toString("base64")}`);
          if (got === expected) return true;
          hostKeyMismatch = `machine ${access.host} offered host key ${got}, expected ${expected}`;
          return false;
        },
      });
    // Small packets go out at once, as OpenSSH does: with Nagle's algorithm each command waited
    // for delayed acknowledgements (about 90 ms for `true`).
    conn.setNoDelay(true);
  });
}

/** Answers when Docker on `host:port` accepts the client certificate and pings back. */
export function dockerTlsPing(
  host: string,
  port: number,
  tls: Pick<DockerTlsSet, "caCert" | "clientCert" | "clientKey">,
): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request(
      {
        host,
        port,
        path: "/_ping",
        method: "GET",
        ca: tls.caCert,
        cert: tls.clientCert,
        key: tls.clientKey,
        timeout: 5_000,
      },
      (res) => {
        res.resume();
        resolve(res.statusCode === 200);
      },
    );
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
    req.end();
  });
}

const shellQuote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** Waits for SSH, installs the Docker TLS set, waits for Docker; throws DROVER_ERR_VM_NOT_READY. */
export async function provisionMachine(
  access: MachineAccess,
  tls: DockerTlsSet,
  opts: ProvisionOptions = {},
): Promise<void> {
  const deadline = Date.now() + (opts.timeoutMs ?? 6 * 60_000);
  let lastError: unknown = null;
  const remaining = (): number => deadline - Date.now();

  // 1. SSH answers with the expected host key.
  let conn: ssh2.Client | null = null;
  while (!conn) {
    opts.signal?.throwIfAborted();
    if (remaining() <= 0) {
      throw new VmError(
        "DROVER_ERR_VM_NOT_READY",
        `machine ${access.host}: SSH did not answer in time (last error: ${String(lastError)})`,
        { cause: lastError },
      );
    }
    try {
      conn = await sshConnect(access, Math.min(10_000, Math.max(remaining(), 1)));
    } catch (err) {
      if (err instanceof VmError) throw err;
      lastError = err;
      await sleep(200, undefined, { signal: opts.signal });
    }
  }
  conn.end();

  // 2. The Docker TLS files, then the marker that starts dockerd.
  const files: [string, string, string][] = [
    ["ca.pem", tls.caCert, "644"],
    ["server-cert.pem", tls.serverCert, "644"],
    ["server-key.pem", tls.serverKey, "600"],
  ];
  const script = [
    "set -e",
    "sudo install -d -m 700 /etc/drover/docker",
    ...files.map(
      ([name, body, mode]) =>
        `printf '%s' ${shellQuote(body)} | sudo install -m ${mode} /dev/stdin /etc/drover/docker/${name}`,
    ),
    "echo 1 | sudo tee /etc/drover/docker/ready >/dev/null",
  ].join("\n");
  const result = await sshExec(access, "bash -s", script);
  if (result.code !== 0) {
    throw new VmError(
      "DROVER_ERR_VM_NOT_READY",
      `machine ${access.host}: installing Docker TLS files failed (exit ${result.code}): ${result.stderr.trim()}`,
    );
  }

  // 3. Docker answers over TLS with the client certificate.
  while (!(await dockerTlsPing(access.host, access.dockerPort, tls))) {
    opts.signal?.throwIfAborted();
    if (remaining() <= 0) {
      throw new VmError(
        "DROVER_ERR_VM_NOT_READY",
        `machine ${access.host}: Docker on ${access.dockerPort} did not answer in time`,
      );
    }
    await sleep(200, undefined, { signal: opts.signal });
  }
}
