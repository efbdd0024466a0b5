/**
 * The `machine` executor: a job's steps run over SSH on a machine leased from vm-service, as on a
 * CircleCI machine executor. One SSH connection (host key pinned to the machine's own) carries
 * every command and every archive; the machine is released (destroyed) in `destroy`.
 */
import { randomUUID } from "node:crypto";
import { PassThrough, Readable } from "node:stream";
import type { Client, ClientChannel } from "ssh2";
import { RERUN_SSH_PORT, sshConnect, sshFingerprint, type MachineAccess } from "@drover/vm-service";
import { AgentError, ErrorCodes, errorMessage } from "../../errors.js";
import type { OutputStream } from "../../output/sink.js";
import {
  PROBE,
  type EnvironmentInfo,
  type ExecHandle,
  type ExecRequest,
  type ExecResult,
  type Executor,
} from "../types.js";

/** A leased machine: how to reach it, and how to give it back. */
export interface MachineTarget {
  access: MachineAccess;
  /** Releases the lease (the machine is destroyed); idempotent. */
  release(): Promise<void>;
}

export interface MachineExecutorOptions {
  /** Leases the machine (in `setup`). */
  lease(): Promise<MachineTarget>;
  workingDirectory: string;
}

const quote = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export class MachineExecutor implements Executor {
  private target: MachineTarget | null = null;
  private conn: Client | null = null;
  private destroyed = false;
  /** Why the SSH connection ended, when it ended before `destroy`. */
  private lost: string | undefined;

  constructor(private readonly opts: MachineExecutorOptions) {}

  private requireConn(): Client {
    if (!this.conn) throw new AgentError(ErrorCodes.machine, "the machine is not set up");
    return this.conn;
  }

  /** Runs `command` (a shell line) and collects its output; for the executor's own chores. */
  private run(
    command: string,
    stdin?: Readable,
  ): Promise<{ code: number | null; out: string; err: string }> {
    const conn = this.requireConn();
    // Read the input from now on, not after the channel opens a round trip later: Node discards
    // a child process's unread output when the child exits (checkout's tar, for one).
    const input = stdin?.pipe(new PassThrough());
    return new Promise((resolve, reject) => {
      conn.exec(command, (err, ch) => {
        if (err) return reject(err);
        let out = "";
        let errOut = "";
        ch.on("data", (d: Buffer) => (out += d.toString()));
        ch.stderr.on("data", (d: Buffer) => (errOut += d.toString()));
        ch.on("close", (code: number | null) => resolve({ code, out, err: errOut }));
        if (input) input.pipe(ch);
        else ch.end();
      });
    });
  }

  async setup(log: (line: string) => void): Promise<EnvironmentInfo> {
    // A refused lease says why itself (vm-service unreachable, the provider's failure).
    this.target = await this.opts.lease();
    const a = this.target.access;
    log(`Machine ${a.host} leased; connecting over SSH as ${a.sshUser}`);
    try {
      this.conn = await sshConnect(a, 30_000);
      // A machine that dies mid-job ends its commands as infrastructure failures.
      this.conn.on("error", (err: Error) => {
        this.lost ??= `the machine ${a.host} stopped answering over SSH: ${err.message}`;
      });
      this.conn.on("close", () => {
        this.lost ??= `the machine ${a.host} closed the SSH connection`;
      });
    } catch (err) {
      throw new AgentError(ErrorCodes.machine, `cannot reach the machine: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    const probe = await this.run(`sh -c ${quote(PROBE)} ${quote(this.opts.workingDirectory)}`);
    const [home, machine, shell, wd, uid, gid] = probe.out.trim().split("\n");
    if (probe.code !== 0 || !home || !wd) {
      throw new AgentError(
        ErrorCodes.machine,
        `the machine did not answer its probe: ${probe.err.trim()}`,
      );
    }
    return {
      home,
      machine: machine ?? "x86_64",
      shell: shell === "bash" ? ["/bin/bash", "-eo", "pipefail", "-c"] : ["/bin/sh", "-ec"],
      workingDirectory: wd,
      services: [],
      uid: Number(uid ?? 1000),
      gid: Number(gid ?? 1000),
    };
  }

  exec(req: ExecRequest): ExecHandle {
    const pidfile = `/tmp/.drover-exec-${randomUUID()}.pid`;
    let killed = false;
    let timedOut = false;
    let killing: Promise<void> | undefined;
    const env = Object.entries(req.env ?? {});
    for (const [k] of env) {
      if (!ENV_NAME.test(k)) {
        return {
          result: Promise.reject(
            new AgentError(
              ErrorCodes.step,
              `invalid environment variable name ${JSON.stringify(k)}`,
              {
                infrastructure: false,
              },
            ),
          ),
          kill: async () => {},
        };
      }
    }
    // The command leads its own session, so a kill reaches everything it started.
    const line = [
      "exec setsid -w sh -c",
      quote(
        `echo $$ > ${pidfile}; ${req.workdir ? `cd ${quote(req.workdir)} || exit 1; ` : ""}exec env ${env
          .map(([k, v]) => quote(`${k}=${v}`))
          .join(" ")} ${req.argv.map(quote).join(" ")}`,
      ),
    ].join(" ");
    const kill = (): Promise<void> => {
      // The command may not have written its pid yet: wait for it (up to 10 s) before killing.
      killing ??= this.run(
        `for i in $(seq 1 100); do [ -s ${pidfile} ] && break; sleep 0.1; done; ` +
          `kill -KILL -- -$(cat ${pidfile} 2>/dev/null) 2>/dev/null; rm -f ${pidfile}`,
      )
        .then(() => undefined)
        .catch(() => undefined);
      return killing;
    };
    const result = new Promise<ExecResult>((resolve, reject) => {
      let conn: Client;
      try {
        conn = this.requireConn();
      } catch (err) {
        reject(err as Error);
        return;
      }
      conn.exec(line, (err, ch: ClientChannel) => {
        if (err) {
          reject(
            new AgentError(ErrorCodes.machine, `the machine refused a command: ${err.message}`, {
              cause: err,
            }),
          );
          return;
        }
        let timer: NodeJS.Timeout | undefined;
        const arm = (): void => {
          if (!req.noOutputTimeoutMs) return;
          if (timer) clearTimeout(timer);
          timer = setTimeout(() => {
            timedOut = true;
            void kill();
          }, req.noOutputTimeoutMs);
        };
        arm();
        const onData = (stream: OutputStream, source: Readable) => (d: Buffer) => {
          arm();
          const wait = req.onOutput?.(stream, d.toString("utf8"));
          if (!wait) return;
          // Output not read is not silence: the clock restarts once reading resumes.
          source.pause();
          if (timer) clearTimeout(timer);
          void wait.finally(() => {
            source.resume();
            arm();
          });
        };
        ch.on("data", onData("stdout", ch));
        ch.stderr.on("data", onData("stderr", ch.stderr));
        ch.end();
        ch.on("close", (code: number | null, signal?: string) => {
          if (timer) clearTimeout(timer);
          void (async () => {
            if (killing) await killing;
            // The connection's own close may come just after its channels'.
            if (code == null) await new Promise((r) => setImmediate(r));
            if (this.lost && !this.destroyed && code == null) {
              reject(new AgentError(ErrorCodes.machine, `${this.lost} while the command ran`));
              return;
            }
            void this.run(`rm -f ${pidfile}`).catch(() => {});
            resolve({ exitCode: signal ? null : code, timedOut, killed });
          })();
        });
      });
    });
    return {
      result,
      kill: () => {
        killed = true;
        return kill();
      },
    };
  }

  async getArchive(path: string): Promise<Readable | undefined> {
    const parent = path.replace(/\/[^/]*\/?$/, "") || "/";
    const base = path.replace(/\/$/, "").split("/").pop() ?? "";
    const exists = await this.run(`test -e ${quote(path)}`);
    if (exists.code !== 0) return undefined;
    const conn = this.requireConn();
    const out = new PassThrough();
    conn.exec(`tar -C ${quote(parent)} -cf - ${quote(base)}`, (err, ch) => {
      if (err) {
        out.destroy(err);
        return;
      }
      let errText = "";
      ch.stderr.on("data", (d: Buffer) => (errText += d.toString()));
      ch.pipe(out, { end: false });
      ch.on("close", (code: number | null) => {
        if (code === 0) out.end();
        else
          out.destroy(
            new AgentError(ErrorCodes.step, `tar of ${path} failed: ${errText.trim()}`, {
              infrastructure: false,
            }),
          );
      });
      ch.end();
    });
    return out;
  }

  async putArchive(dir: string, tar: Readable): Promise<void> {
    const r = await this.run(`tar -C ${quote(dir)} -xf -`, tar);
    if (r.code !== 0) {
      throw new AgentError(ErrorCodes.step, `extracting into ${dir} failed: ${r.err.trim()}`, {
        infrastructure: false,
      });
    }
  }

  serviceLogs(): { stop(): void } {
    // Machine jobs have no service containers.
    return { stop: () => {} };
  }

  /**
   * Lets a user into the machine for a rerun with SSH: its own OpenSSH server on `RERUN_SSH_PORT`
   * admits exactly `authorizedKeys` (OpenSSH public key lines) as the machine's user from now on.
   * Returns what the user connects to and the host key's fingerprint to check.
   */
  async enableRerunSsh(
    authorizedKeys: string[],
  ): Promise<{ host: string; port: number; user: string; hostKeyFingerprint: string }> {
    const target = this.target;
    if (!target) throw new AgentError(ErrorCodes.machine, "the machine is not set up");
    const keys = authorizedKeys.map((k) => k.trim()).filter(Boolean);
    if (keys.some((k) => k.includes("\n"))) {
      throw new AgentError(ErrorCodes.machine, "an authorized key spans lines");
    }
    const { sshUser: user, host, hostPublicKey } = target.access;
    const r = await this.run(
      `sudo install -d -m 755 /etc/drover/rerun_keys && ` +
        `sudo tee /etc/drover/rerun_keys/${quote(user)} >/dev/null && ` +
        `sudo chmod 644 /etc/drover/rerun_keys/${quote(user)}`,
      Readable.from([`${keys.join("\n")}\n`]),
    );
    if (r.code !== 0) {
      throw new AgentError(
        ErrorCodes.machine,
        `the machine refused the SSH keys: ${r.err.trim() || `exit ${r.code}`}`,
      );
    }
    return { host, port: RERUN_SSH_PORT, user, hostKeyFingerprint: sshFingerprint(hostPublicKey) };
  }

  async destroy(): Promise<void> {
    if (this.destroyed) return;
    this.destroyed = true;
    this.conn?.end();
    this.conn = null;
    await this.target?.release();
  }
}
