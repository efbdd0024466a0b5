/**
 * A rerun with SSH inside a task: "Enable SSH" opens the way in (the agent's own SSH server for a
 * docker job, the machine's OpenSSH on 54782 for a machine job) and prints how to connect; "Wait
 * for SSH" keeps the job alive by the wait policy after its steps, or ends at once when canceled.
 */
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import type { TaskSpec } from "@drover/task-api";
import type { EnvironmentInfo, Executor } from "../executor/types.js";
import { RerunSshServer } from "./server.js";
import { SshWaitPolicy, type SshWaitEnd, type SshWaitLimits } from "./wait-policy.js";

export interface RerunSshConfig {
  /** Interface the agent's SSH server listens on. */
  bindHost: string;
  /** Host printed in the `ssh` line (the Nomad client's address, or an operator's). */
  advertiseHost: string;
  /** An exact port (Nomad's `ssh` port), or the first free one of the range. */
  port: number | { from: number; to: number };
  limits: SshWaitLimits;
}

export interface SshAccess {
  host: string;
  port: number;
  fingerprint: string;
  /** The wait policy, fed by the agent's own server's sessions. */
  policy(start: number): SshWaitPolicy;
  /** Sessions open now, for a server the agent does not run (a machine's sshd). */
  sessions?(): Promise<number>;
  close(): Promise<void>;
}

const LOCAL = new Set(["localhost", "127.0.0.1", "::1"]);

/** Where keys are added, for the message when there are none. */
export const NO_KEYS_MESSAGE =
  "No SSH keys are registered for the user who asked for this rerun: add one with " +
  "`POST /api/v2/me/ssh-keys` (or in the web UI under your user settings), then rerun with SSH again.";

/** Opens SSH for the task; the caller prints how to connect. */
export async function enableSsh(opts: {
  task: TaskSpec;
  executor: Executor;
  info: EnvironmentInfo;
  env: Record<string, string>;
  config: RerunSshConfig;
  logger: Logger;
  audit?: (e: { event: "login" | "logout"; fingerprint: string; address: string }) => void;
}): Promise<SshAccess> {
  const { task, executor, info, env, config } = opts;
  const keys = task.ssh.authorizedKeys;
  if (executor.enableRerunSsh) {
    const where = await executor.enableRerunSsh(keys);
    return {
      host: where.host,
      port: where.port,
      fingerprint: where.hostKeyFingerprint,
      policy: (start) => new SshWaitPolicy(config.limits, start),
      sessions: async () => {
        let out = "";
        const r = await executor.exec({
          argv: ["sh", "-c", `ss -Htn state established '( sport = :${where.port} )' | wc -l`],
          onOutput: (_s, d) => void (out += d),
        }).result;
        return r.exitCode === 0 ? Number(out.trim()) || 0 : 0;
      },
      close: async () => {},
    };
  }
  if (!executor.interactive) throw new Error("this executor cannot host SSH sessions");
  const interactive = executor.interactive.bind(executor);
  let current: SshWaitPolicy | undefined;
  const server = new RerunSshServer({
    authorizedKeys: keys,
    host: config.bindHost,
    port: config.port,
    logger: opts.logger.child({ unit: "rerun-ssh" }),
    spawn: (req) =>
      interactive({
        ...req,
        env,
        workdir: info.workingDirectory,
        shell: info.shell[0] ?? "/bin/sh",
      }),
    onLogin: (e) =>
      opts.audit?.({ event: "login", fingerprint: e.fingerprint, address: e.address }),
    onLogout: (e) =>
      opts.audit?.({ event: "logout", fingerprint: e.fingerprint, address: e.address }),
    // `ssh -L` only when the project allows it, and only to the job's own ports.
    ...(task.ssh.portForwarding && executor.connectToJob
      ? {
          forward: async (host: string, port: number) => {
            if (!LOCAL.has(host)) throw new Error(`only the job's own ports, not ${host}`);
            return executor.connectToJob!(port);
          },
        }
      : {}),
    onSessionOpen: () => current?.opened(),
    onSessionClose: () => current?.closed(Date.now()),
  });
  const port = await server.listen();
  return {
    host: config.advertiseHost,
    port,
    fingerprint: server.hostKeyFingerprint,
    policy: (start) => (current = new SshWaitPolicy(config.limits, start)),
    close: () => server.close(),
  };
}

/** The lines CircleCI prints, with the host key's fingerprint to check. */
export function sshInstructions(a: { host: string; port: number; fingerprint: string }): string {
  return (
    "You can now SSH into this box with your registered SSH key:\n" +
    `    $ ssh -p ${a.port} ${a.host}\n` +
    "Any user name works; only your keys are accepted.\n" +
    `Host key fingerprint: ${a.fingerprint}\n`
  );
}

/** Keeps the task alive by the wait policy; ends at once when `signal` aborts. */
export async function waitForSsh(
  access: SshAccess,
  signal: AbortSignal,
  log: (line: string) => void,
): Promise<SshWaitEnd | "canceled"> {
  const policy = access.policy(Date.now());
  let lastOpen = 0;
  for (;;) {
    if (signal.aborted) return "canceled";
    if (access.sessions) {
      // Someone else's server: follow its session count.
      const open = await access.sessions().catch(() => lastOpen);
      for (let i = lastOpen; i < open; i++) policy.opened();
      for (let i = open; i < lastOpen; i++) policy.closed(Date.now());
      if (open !== lastOpen) log(`${open} SSH session(s) open\n`);
      lastOpen = open;
    }
    const why = policy.ended(Date.now());
    if (why) return why;
    const wait = Math.max(
      1,
      Math.min(policy.deadline() - Date.now(), access.sessions ? 5_000 : 1_000),
    );
    await sleep(wait, undefined, { signal }).catch(() => undefined);
  }
}
