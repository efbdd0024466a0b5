import Pusher from "pusher-js";
import { afterEach, beforeAll, beforeEach } from "vitest";
import { signChannelAuth } from "@drover/output-processor";
import { APP_KEY, APP_SECRET, assertRedis, startProcessor, tempDir, type Started } from "./env.js";

interface Entry {
  kind: string;
  seq: number;
  toSeq?: number;
  textBytes?: number;
  data?: string;
  tail?: string;
}

/**
 * A browser stand-in on the real pusher-js client: authorizes private channels with the app
 * secret (as the control plane would), resumes from the last seq it saw, and checks every task's
 * entries arrive contiguous (no gap, no duplicate).
 */
export class Watcher {
  readonly pusher: Pusher;
  readonly last = new Map<string, number>();
  readonly text = new Map<string, string>();
  readonly kinds: string[] = [];
  readonly errors: string[] = [];
  readonly caughtUp: Array<{ task: string; seq: number }> = [];
  readonly status: unknown[] = [];
  readonly closeCodes: number[] = [];
  /** `skipped` entries received (a `tail` subscription's first event per task). */
  readonly skipped: Array<{ task: string; seq: number; toSeq: number; textBytes: number }> = [];
  subscribed = false;
  subscriptionErrors: unknown[] = [];

  /** `tail`: sent in channel_data (bytes of history per task not in `since`). */
  constructor(port: number, opts: { authorize?: boolean; tail?: unknown } = {}) {
    this.pusher = new Pusher(APP_KEY, {
      cluster: "local",
      wsHost: "127.0.0.1",
      wsPort: port,
      forceTLS: false,
      enabledTransports: ["ws"],
      disableStats: true,
      channelAuthorization: {
        customHandler: (params, callback) => {
          const since = Object.fromEntries(this.last);
          callback(null, {
            auth:
              opts.authorize === false
                ? `${APP_KEY}:${"0".repeat(64)}`
                : signChannelAuth(APP_KEY, APP_SECRET, params.socketId, params.channelName),
            channel_data: JSON.stringify(
              opts.tail === undefined ? { since } : { since, tail: opts.tail },
            ),
          });
        },
      },
    });
    this.pusher.connection.bind("error", (err: { data?: { code?: number } }) => {
      if (err?.data?.code) this.closeCodes.push(err.data.code);
    });
  }

  watchJob(jobId: string): void {
    const ch = this.pusher.subscribe(`private-job-${jobId}`);
    ch.bind("pusher:subscription_succeeded", () => (this.subscribed = true));
    ch.bind("pusher:subscription_error", (e: unknown) => this.subscriptionErrors.push(e));
    ch.bind("log", (msg: { task: string; entries: Entry[] }) => {
      let last = this.last.get(msg.task) ?? 0;
      for (const e of msg.entries) {
        if (e.seq !== last + 1)
          this.errors.push(`task ${msg.task}: got seq ${e.seq} after ${last}`);
        if (e.kind === "skipped") {
          this.skipped.push({
            task: msg.task,
            seq: e.seq,
            toSeq: e.toSeq as number,
            textBytes: e.textBytes as number,
          });
        }
        last = e.kind === "dropped" || e.kind === "skipped" ? (e.toSeq as number) : e.seq;
        this.kinds.push(e.kind);
        const t = e.kind === "output" ? e.data : e.tail;
        if (t) this.text.set(msg.task, (this.text.get(msg.task) ?? "") + t);
      }
      this.last.set(msg.task, last);
    });
    ch.bind("caught-up", (m: { task: string; seq: number }) => this.caughtUp.push(m));
  }

  watchProject(projectId: string): void {
    const ch = this.pusher.subscribe(`private-project-${projectId}`);
    ch.bind("status", (m: unknown) => this.status.push(m));
  }

  close(): void {
    this.pusher.disconnect();
  }
}

/**
 * Per-test output-processors and browser watchers, closed after each test (Redis required): call
 * inside a `describe`.
 */
export function processorFixture(): {
  start(extra?: Record<string, unknown>): Promise<Started>;
  watcher(port: number, opts?: ConstructorParameters<typeof Watcher>[1]): Watcher;
} {
  let dir: { dir: string; cleanup: () => Promise<void> } | null = null;
  const started: Started[] = [];
  const watchers: Watcher[] = [];
  beforeAll(assertRedis);
  beforeEach(async () => {
    dir = await tempDir();
  });
  afterEach(async () => {
    for (const w of watchers.splice(0)) w.close();
    for (const s of started.splice(0)) await s.op.close();
    await dir?.cleanup();
  });
  return {
    async start(extra = {}) {
      const s = await startProcessor({ dataDir: (dir as { dir: string }).dir, ...extra });
      started.push(s);
      return s;
    },
    watcher(port, opts) {
      const w = new Watcher(port, opts);
      watchers.push(w);
      return w;
    },
  };
}
