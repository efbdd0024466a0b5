/**
 * The agent's SSH server for a rerun with SSH (`ssh2`): a host key of this job's own, public-key
 * logins with the keys of the user who asked (nothing else), each session a process in the job's
 * environment (a PTY with window resizing when asked), port forwarding refused unless allowed.
 * Logins and logouts are reported with the key's fingerprint.
 */
import { createHash, timingSafeEqual } from "node:crypto";
import type { AddressInfo } from "node:net";
import type { Duplex, Readable, Writable } from "node:stream";
import type { Logger } from "pino";
import ssh2 from "ssh2";

/** A process a session runs (in the primary container, or on the machine). */
export interface SessionProcess {
  stdin: Writable;
  stdout: Readable;
  /** Absent with a PTY (stderr is merged into it). */
  stderr?: Readable;
  /** Exit code, or null when killed. */
  result: Promise<number | null>;
  resize(cols: number, rows: number): void;
  kill(): void;
}

export interface SessionRequest {
  /** The command (`ssh host -- CMD`, scp's remote side), or undefined for a login shell. */
  command?: string;
  pty?: { term: string; cols: number; rows: number };
}

export interface RerunSshServerOptions {
  /** OpenSSH public key lines that may log in. */
  authorizedKeys: string[];
  /** Starts a session's process. */
  spawn(req: SessionRequest): Promise<SessionProcess>;
  /** Where to listen: an exact port, or the first free one of a range. */
  host: string;
  port: number | { from: number; to: number };
  /** `ssh -L`: a connection to `host:port` (refused when absent or when it throws). */
  forward?(host: string, port: number): Promise<Duplex>;
  logger: Logger;
  onLogin?(e: { fingerprint: string; user: string; address: string }): void;
  onLogout?(e: { fingerprint: string; user: string; address: string }): void;
  /** A session opened or closed (the wait policy counts them). */
  onSessionOpen?(): void;
  onSessionClose?(): void;
}

const fingerprintOf = (blob: Buffer): string =>
  `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;

export class RerunSshServer {
  readonly hostKeyFingerprint: string;
  #port = 0;
  readonly #server: ssh2.Server;
  readonly #keys: Array<{ type: string; data: Buffer; fingerprint: string; key: ssh2.ParsedKey }>;
  readonly #clients = new Set<ssh2.Connection>();

  constructor(private readonly opts: RerunSshServerOptions) {
    const host = ssh2.utils.generateKeyPairSync("ed25519", { comment: "drover rerun" });
    const parsedHost = ssh2.utils.parseKey(host.public);
    if (parsedHost instanceof Error) throw parsedHost;
    this.hostKeyFingerprint = fingerprintOf(parsedHost.getPublicSSH());
    this.#keys = opts.authorizedKeys.flatMap((line) => {
      const k = ssh2.utils.parseKey(line);
      if (k instanceof Error) return [];
      const data = k.getPublicSSH();
      return [{ type: k.type, data, fingerprint: fingerprintOf(data), key: k }];
    });
    this.#server = new ssh2.Server({ hostKeys: [host.private] }, (client, info) =>
      this.#client(client, info.ip),
    );
  }

  get port(): number {
    return this.#port;
  }

  /** Listens; resolves with the port. */
  async listen(): Promise<number> {
    const { host, port } = this.opts;
    const range = typeof port === "number" ? { from: port, to: port } : port;
    // Each port in turn: two agents on one host never race for the same one.
    for (let p = range.from; p <= range.to; p++) {
      try {
        await new Promise<void>((resolve, reject) => {
          this.#server.once("error", reject);
          this.#server.listen(p, host, () => {
            this.#server.off("error", reject);
            resolve();
          });
        });
        this.#port = (this.#server.address() as AddressInfo).port;
        return this.#port;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE" || p === range.to) throw err;
      }
    }
    throw new Error(`no free port from ${range.from} to ${range.to} on ${host}`);
  }

  /** Ends every session and stops listening. */
  async close(): Promise<void> {
    for (const c of this.#clients) c.end();
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
  }

  #client(client: ssh2.Connection, address: string): void {
    const log = this.opts.logger.child({ peer: address });
    let who: { fingerprint: string; user: string; address: string } | null = null;
    this.#clients.add(client);
    client.on("authentication", (ctx) => {
      if (ctx.method !== "publickey") return ctx.reject(["publickey"]);
      const match = this.#keys.find(
        (k) =>
          k.type === ctx.key.algo &&
          k.data.length === ctx.key.data.length &&
          timingSafeEqual(k.data, ctx.key.data),
      );
      if (!match) return ctx.reject(["publickey"]);
      // Without a signature the client only asks whether the key would do.
      if (!ctx.signature || !ctx.blob) return ctx.accept();
      if (match.key.verify(ctx.blob, ctx.signature, ctx.hashAlgo) !== true) {
        return ctx.reject(["publickey"]);
      }
      who = { fingerprint: match.fingerprint, user: ctx.username, address };
      ctx.accept();
    });
    client.on("ready", () => {
      if (who) this.opts.onLogin?.(who);
      log.info({ fingerprint: who?.fingerprint }, "SSH login");
      client.on("session", (accept) => this.#session(accept(), log));
      // Remote forwarding (`ssh -R`) is never offered.
      client.on("request", (_accept, reject) => reject?.());
      client.on("tcpip", (accept, reject, info) => {
        const forward = this.opts.forward;
        if (!forward) return reject();
        forward(info.destIP, info.destPort).then(
          (socket) => {
            const channel = accept();
            channel.pipe(socket).pipe(channel);
            socket.once("error", () => channel.close());
            channel.once("close", () => socket.destroy());
          },
          (err: unknown) => {
            log.debug({ err, dest: `${info.destIP}:${info.destPort}` }, "port forward refused");
            reject();
          },
        );
      });
    });
    client.on("error", (err) => log.debug({ err }, "SSH connection error"));
    client.on("close", () => {
      this.#clients.delete(client);
      if (who) {
        this.opts.onLogout?.(who);
        log.info({ fingerprint: who.fingerprint }, "SSH logout");
      }
    });
  }

  #session(session: ssh2.Session, log: Logger): void {
    let pty: SessionRequest["pty"];
    let proc: SessionProcess | undefined;
    let size: { cols: number; rows: number } | undefined;
    session.on("pty", (accept, _reject, info) => {
      pty = { term: info.term || "xterm", cols: info.cols || 80, rows: info.rows || 24 };
      accept?.();
    });
    session.on("window-change", (accept, _reject, info) => {
      size = { cols: info.cols, rows: info.rows };
      proc?.resize(info.cols, info.rows);
      accept?.();
    });
    session.on("env", (accept) => accept?.());
    const start = (command: string | undefined, accept: () => ssh2.ServerChannel) => {
      const channel = accept();
      this.opts.onSessionOpen?.();
      let closed = false;
      const done = (code: number | null) => {
        if (closed) return;
        closed = true;
        if (code !== null) channel.exit(code);
        else channel.exit("KILL");
        channel.end();
        this.opts.onSessionClose?.();
      };
      void this.opts
        .spawn({ ...(command !== undefined ? { command } : {}), ...(pty ? { pty } : {}) })
        .then((p) => {
          proc = p;
          if (size) p.resize(size.cols, size.rows);
          channel.pipe(p.stdin);
          p.stdout.pipe(channel, { end: false });
          p.stderr?.pipe(channel.stderr, { end: false });
          // A client gone mid-command ends it; once it has exited, what it left running in the
          // background (`nohup server &`) stays.
          let exited = false;
          channel.on("close", () => {
            if (!exited) p.kill();
          });
          return p.result.then((code) => {
            exited = true;
            return code;
          });
        })
        .then(done, (err: unknown) => {
          log.warn({ err }, "SSH session failed to start");
          channel.stderr.write(`drover: ${err instanceof Error ? err.message : String(err)}\r\n`);
          done(255);
        });
    };
    session.on("exec", (accept, _reject, info) => start(info.command, accept));
    session.on("shell", (accept) => start(undefined, accept));
    session.on("subsystem", (accept, reject, info) => {
      // sftp: the container's own sftp-server when it has one.
      if (info.name !== "sftp") return reject?.();
      start("exec /usr/lib/openssh/sftp-server 2>/dev/null || exec /usr/lib/sftp-server", accept);
    });
  }
}
