import { randomInt } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { WebSocketServer, type WebSocket } from "ws";
import { LiveJobMessage, jobChannel, projectChannel } from "../fanout/messages.js";
import type { PubSub } from "../pubsub/types.js";
import type { LiveWindow } from "../store/live-window.js";
import type { LogEntry, LogStore, SkippedEntry } from "../store/types.js";
import { MESSAGE_TARGET_CHARS, closeReason, entryChars } from "../protocol/ingest.js";
import { BadRequest, pathSegment, requestUrl } from "../http/request.js";
import { verifyChannelAuth } from "./auth.js";
import {
  JOB_CHANNEL_PREFIX,
  MAX_HISTORY_TAIL_BYTES,
  PROJECT_CHANNEL_PREFIX,
  PUSHER_CLOSE,
  PUSHER_PROTOCOL_VERSION,
  encodeEvent,
  encodeJsonEvent,
} from "./protocol.js";

export interface PusherServerOptions {
  appKey: string;
  appSecret: string;
  /** Seconds of silence before a side pings (sent in `connection_established`). */
  activityTimeoutSec?: number;
  /** Bytes queued for one client beyond which it is closed with `slowConsumer` (default 8 MiB). */
  maxBufferedBytes?: number;
  /** History pages are sent while less than this is queued (default 1 MiB). */
  historyHighWater?: number;
  /** Send Drover's events with `data` as a JSON-encoded string, as strict Pusher clients expect. */
  stringData?: boolean;
}

export interface PusherDeps {
  pubsub: PubSub;
  store: LogStore;
  window: LiveWindow;
  channelPrefix: string;
  logger: Logger;
}

/** A page of history, encoded once: null `frame` when nothing is stored from that seq on. */
interface HistoryPage {
  frame: Buffer | null;
  /** The seq after the page. */
  next: number;
}

/** Backbone subscription shared by every local subscriber of one job or project. */
interface Hub {
  subs: Set<ChannelSub>;
  ready: Promise<() => Promise<void>>;
}

interface ChannelSub {
  conn: PusherConnection;
  channelName(): string;
  onMessage(parsed: LiveJobMessage | null, shared: Buffer): void;
  resync(): void;
  stop(): void;
}

/**
 * Serves the Pusher Channels protocol to browsers: private job channels with history-then-live
 * hand-over, private project channels with status. One slow client is closed, never waited for.
 */
export class PusherServer {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: 64 * 1024,
    perMessageDeflate: false,
  });
  private readonly hubs = new Map<string, Hub>();
  private readonly pages = new Map<string, { at: number; page: Promise<HistoryPage> }>();
  readonly conns = new Set<PusherConnection>();
  readonly opts: Required<PusherServerOptions>;
  private readonly pinger: NodeJS.Timeout;
  readonly historyHighWater: number;
  readonly historyPageBytes: number;

  constructor(
    opts: PusherServerOptions,
    readonly deps: PusherDeps,
  ) {
    this.opts = {
      activityTimeoutSec: 120,
      maxBufferedBytes: 8 * 1024 * 1024,
      historyHighWater: 1024 * 1024,
      stringData: false,
      ...opts,
    };
    this.historyHighWater = Math.min(this.opts.historyHighWater, this.opts.maxBufferedBytes / 4);
    this.historyPageBytes = Math.min(
      MESSAGE_TARGET_CHARS,
      Math.floor(this.opts.maxBufferedBytes / 4),
    );
    deps.pubsub.onResync(() => {
      for (const hub of this.hubs.values()) for (const s of hub.subs) s.resync();
    });
    this.pinger = setInterval(() => {
      for (const c of this.conns) c.checkActivity();
    }, 5_000);
    this.pinger.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    // Checked after the handshake: the refusal reaches the client as a Pusher error it can read.
    let problem: { code: number; message: string } | null = null;
    try {
      const url = requestUrl(req);
      const m = /^\/app\/([^/]+)$/.exec(url.pathname);
      const proto = url.searchParams.get("protocol");
      if (!m) problem = { code: PUSHER_CLOSE.pathNotFound, message: "path not found" };
      else if (pathSegment(m[1] as string, "app key") !== this.opts.appKey) {
        problem = { code: PUSHER_CLOSE.appNotFound, message: "application does not exist" };
      } else if (proto === null) {
        problem = { code: PUSHER_CLOSE.noProtocol, message: "no protocol version supplied" };
      } else if (!/^\d{1,3}$/.test(proto)) {
        problem = {
          code: PUSHER_CLOSE.invalidVersionFormat,
          message: `protocol must be a version number, got ${JSON.stringify(proto.slice(0, 40))}`,
        };
      } else if (Number(proto) < 5 || Number(proto) > PUSHER_PROTOCOL_VERSION) {
        problem = {
          code: PUSHER_CLOSE.unsupportedProtocol,
          message: `unsupported protocol version ${proto}`,
        };
      }
    } catch (err) {
      if (!(err instanceof BadRequest)) throw err;
      problem = { code: PUSHER_CLOSE.pathNotFound, message: err.message.slice(0, 120) };
    }
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      if (problem) {
        ws.send(encodeEvent("pusher:error", problem));
        ws.close(problem.code, closeReason(problem.message));
        return;
      }
      const conn = new PusherConnection(ws, this);
      this.conns.add(conn);
      ws.once("close", () => {
        this.conns.delete(conn);
        conn.dispose();
      });
    });
  }

  /** Adds a local subscriber to a backbone channel; resolves once live messages flow to it. */
  async join(channel: string, sub: ChannelSub): Promise<void> {
    let hub = this.hubs.get(channel);
    if (!hub) {
      const subs = new Set<ChannelSub>();
      const h: Hub = {
        subs,
        ready: this.deps.pubsub.subscribe(channel, (raw) => this.dispatch(channel, h, raw)),
      };
      hub = h;
      this.hubs.set(channel, hub);
    }
    hub.subs.add(sub);
    await hub.ready;
  }

  async leave(channel: string, sub: ChannelSub): Promise<void> {
    const hub = this.hubs.get(channel);
    if (!hub || !hub.subs.delete(sub) || hub.subs.size > 0) return;
    this.hubs.delete(channel);
    const off = await hub.ready.catch(() => null);
    if (off) await off();
  }

  /** One of Drover's events on `channel`, `json` being its data as JSON text. */
  event(event: string, json: string, channel: string): string {
    return this.opts.stringData
      ? encodeEvent(event, json, channel)
      : encodeJsonEvent(event, json, channel);
  }

  /**
   * A page of `task`'s history from seq `from` as a `log` event on `channel`. Subscribers asking
   * for the same page while one read is in flight share it (after a Redis reconnect every watcher
   * of a job replays from the same cursor at once), unless that read began before `notBefore`:
   * it could then miss what was published before the asker's live subscription began.
   */
  historyPage(
    channel: string,
    task: string,
    from: number,
    notBefore: number,
  ): Promise<HistoryPage> {
    const key = `${channel}\n${task}\n${from}`;
    const shared = this.pages.get(key);
    if (shared && shared.at >= notBefore) return shared.page;
    const at = performance.now();
    const page = this.readPage(channel, task, from);
    this.pages.set(key, { at, page });
    const forget = (): void => {
      if (this.pages.get(key)?.page === page) this.pages.delete(key);
    };
    page.then(forget, forget);
    return page;
  }

  private async readPage(channel: string, task: string, from: number): Promise<HistoryPage> {
    const { store, window } = this.deps;
    let entries: LogEntry[] | null = await window.read(task, from, WINDOW_PAGE);
    if (entries !== null) entries = firstPage(entries, this.historyPageBytes);
    if (entries === null) {
      entries = (await store.readEntries(task, from, { maxBytes: this.historyPageBytes })).entries;
    }
    const last = entries[entries.length - 1];
    if (!last) return { frame: null, next: from };
    return {
      frame: Buffer.from(this.event("log", JSON.stringify({ task, entries }), channel)),
      next: (last.kind === "dropped" ? last.toSeq : last.seq) + 1,
    };
  }

  /** One of Drover's events on `channel` whose data is the JSON bytes `raw`, as sent. */
  eventBytes(event: string, raw: Buffer, channel: string): Buffer {
    if (this.opts.stringData) return Buffer.from(encodeEvent(event, raw.toString(), channel));
    // No decode and re-encode of the payload: the frame is the bytes published, wrapped.
    const head = `{"event":${JSON.stringify(event)},"channel":${JSON.stringify(channel)},"data":`;
    return Buffer.concat([Buffer.from(head), raw, CLOSE_BRACE]);
  }

  private dispatch(channel: string, hub: Hub, raw: Buffer): void {
    if (hub.subs.size === 0) return;
    const isJob = channel.startsWith(jobChannel(this.deps.channelPrefix, ""));
    let parsed: LiveJobMessage | null = null;
    if (isJob) {
      try {
        // The header only: entries are parsed if a subscriber needs part of them.
        parsed = LiveJobMessage.read(raw);
        if (!parsed) return;
      } catch (err) {
        this.deps.logger.error({ err, channel }, "dropping an unreadable backbone message");
        return;
      }
    }
    // Encoded once per message, whatever the number of subscribers.
    let shared: Buffer | null = null;
    for (const s of hub.subs) {
      if (shared === null) {
        shared = this.eventBytes(isJob ? "log" : "status", raw, s.channelName());
      }
      s.onMessage(parsed, shared);
    }
  }

  async close(): Promise<void> {
    clearInterval(this.pinger);
    for (const c of this.conns) c.close(PUSHER_CLOSE.goingAway, "server closing");
    this.wss.close();
  }
}

class PusherConnection {
  readonly socketId = `${randomInt(1, 2 ** 31)}.${randomInt(1, 2 ** 31)}`;
  private readonly subs = new Map<string, ChannelSub>();
  private lastSeen = Date.now();
  private pinged = false;
  closed = false;
  readonly log: Logger;

  constructor(
    readonly ws: WebSocket,
    readonly server: PusherServer,
  ) {
    this.log = server.deps.logger.child({ socketId: this.socketId });
    ws.on("message", (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on("error", (err) => this.log.debug({ err }, "pusher socket error"));
    this.send(
      encodeEvent("pusher:connection_established", {
        socket_id: this.socketId,
        activity_timeout: server.opts.activityTimeoutSec,
      }),
    );
  }

  /** Sends unless the client is too far behind, in which case it is closed to resume later. */
  send(frame: string | Buffer): boolean {
    if (this.closed) return false;
    // Bounded at the limit plus one message: whatever is queued beyond the limit is never waited for.
    if (this.ws.bufferedAmount > this.server.opts.maxBufferedBytes) {
      this.log.info({ buffered: this.ws.bufferedAmount }, "closing slow consumer");
      this.close(PUSHER_CLOSE.slowConsumer, "slow consumer: resubscribe from your last seq");
      return false;
    }
    this.ws.send(frame, { binary: false });
    return true;
  }

  /** Resolves when the socket's queue is under the history high-water mark. */
  async drained(): Promise<void> {
    while (!this.closed && this.ws.bufferedAmount > this.server.historyHighWater) {
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  checkActivity(): void {
    const idle = Date.now() - this.lastSeen;
    const timeout = this.server.opts.activityTimeoutSec * 1000;
    if (idle > timeout + 30_000 && this.pinged) {
      this.close(PUSHER_CLOSE.pongTimeout, "pong reply not received");
    } else if (idle > timeout && !this.pinged) {
      this.pinged = true;
      this.send(encodeEvent("pusher:ping", {}));
    }
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.ws.close(code, closeReason(reason));
    // A client too slow to read its close frame does not hold its queue for long.
    setTimeout(() => this.ws.terminate(), 5_000).unref();
    this.dispose();
  }

  dispose(): void {
    this.closed = true;
    for (const s of this.subs.values()) s.stop();
    this.subs.clear();
  }

  private error(message: string, code: number | null, channel?: string, status = 403): void {
    this.send(encodeEvent("pusher:error", { message, code }));
    if (channel) {
      this.send(
        encodeEvent(
          "pusher:subscription_error",
          { type: status === 403 ? "AuthError" : "ChannelDataError", error: message, status },
          channel,
        ),
      );
    }
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.lastSeen = Date.now();
    this.pinged = false;
    if (isBinary) return this.error("binary messages are not supported", null);
    let msg: { event?: unknown; data?: unknown; channel?: unknown };
    try {
      msg = JSON.parse(data.toString("utf8")) as typeof msg;
    } catch {
      return this.error("message is not JSON", null);
    }
    if (typeof msg !== "object" || msg === null || typeof msg.event !== "string") {
      return this.error("message has no event", null);
    }
    let payload = msg.data;
    if (typeof payload === "string") {
      try {
        payload = JSON.parse(payload);
      } catch {
        // data stays a string
      }
    }
    switch (msg.event) {
      case "pusher:ping":
        this.send(encodeEvent("pusher:pong", {}));
        return;
      case "pusher:pong":
        return;
      case "pusher:subscribe":
        this.subscribe(payload as SubscribeData).catch((err: unknown) => {
          this.log.error({ err }, "subscribing failed");
          this.close(PUSHER_CLOSE.goingAway, "subscription failed; reconnect");
        });
        return;
      case "pusher:unsubscribe": {
        const ch = (payload as { channel?: unknown } | null)?.channel;
        if (typeof ch === "string") this.unsubscribe(ch);
        return;
      }
      default:
        if (msg.event.startsWith("client-")) {
          return this.error("client events are not enabled", 4301);
        }
    }
  }

  private async subscribe(data: SubscribeData | null): Promise<void> {
    const channel = data?.channel;
    if (typeof channel !== "string" || channel.length === 0 || channel.length > 200) {
      return this.error("pusher:subscribe needs a channel", null);
    }
    if (this.subs.has(channel)) return;
    if (this.subs.size >= MAX_CHANNELS_PER_CONNECTION) {
      return this.error(
        `at most ${MAX_CHANNELS_PER_CONNECTION} channels per connection`,
        null,
        channel,
      );
    }
    const { appKey, appSecret } = this.server.opts;
    if (
      typeof data?.auth !== "string" ||
      !verifyChannelAuth(appKey, appSecret, this.socketId, channel, data.auth)
    ) {
      return this.error(
        `invalid signature for channel ${channel}`,
        PUSHER_CLOSE.unauthorized,
        channel,
      );
    }
    const since: Record<string, number> = {};
    let tail: number | undefined;
    if (typeof data.channel_data === "string" && data.channel_data) {
      let cd: { since?: unknown; tail?: unknown };
      try {
        cd = JSON.parse(data.channel_data) as typeof cd;
      } catch {
        return this.error("channel_data is not JSON", null, channel);
      }
      if (cd?.since && typeof cd.since === "object") {
        for (const [k, v] of Object.entries(cd.since)) {
          if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) {
            return this.error(
              `channel_data.since[${JSON.stringify(k.slice(0, 100))}] must be a seq from 0 to ${Number.MAX_SAFE_INTEGER}, got ${JSON.stringify(v)?.slice(0, 40)}`,
              null,
              channel,
              400,
            );
          }
          since[k] = v;
        }
      }
      if (cd?.tail !== undefined && cd.tail !== null) {
        const t = cd.tail;
        if (typeof t !== "number" || !Number.isInteger(t) || t < 0 || t > MAX_HISTORY_TAIL_BYTES) {
          return this.error(
            `channel_data.tail must be an integer from 0 to ${MAX_HISTORY_TAIL_BYTES} (bytes of output), got ${JSON.stringify(t)}`,
            null,
            channel,
            400,
          );
        }
        tail = t;
      }
    }
    const prefix = this.server.deps.channelPrefix;
    let sub: ChannelSub;
    if (channel.startsWith(JOB_CHANNEL_PREFIX)) {
      const jobId = channel.slice(JOB_CHANNEL_PREFIX.length);
      sub = new JobSub(this, channel, jobChannel(prefix, jobId), jobId, since, tail);
    } else if (channel.startsWith(PROJECT_CHANNEL_PREFIX)) {
      const projectId = channel.slice(PROJECT_CHANNEL_PREFIX.length);
      sub = new ProjectSub(this, channel, projectChannel(prefix, projectId));
    } else {
      return this.error(`no such channel ${channel}`, PUSHER_CLOSE.unauthorized, channel);
    }
    this.subs.set(channel, sub);
    await (sub as JobSub | ProjectSub).start();
  }

  private unsubscribe(channel: string): void {
    const s = this.subs.get(channel);
    if (!s) return;
    this.subs.delete(channel);
    s.stop();
  }
}

interface SubscribeData {
  channel?: unknown;
  auth?: unknown;
  channel_data?: unknown;
}

class ProjectSub implements ChannelSub {
  private stopped = false;
  constructor(
    readonly conn: PusherConnection,
    private readonly name: string,
    private readonly backbone: string,
  ) {}

  channelName(): string {
    return this.name;
  }

  async start(): Promise<void> {
    await this.conn.server.join(this.backbone, this);
    if (!this.stopped)
      this.conn.send(encodeEvent("pusher_internal:subscription_succeeded", {}, this.name));
  }

  onMessage(_parsed: LiveJobMessage | null, shared: Buffer): void {
    this.conn.send(shared);
  }

  resync(): void {}

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    void this.conn.server.leave(this.backbone, this);
  }
}

interface TaskCursor {
  /** Next seq this client needs. */
  next: number;
  replaying: boolean;
  /** Live messages that arrived during a replay (bounded; on overflow the replay rereads). */
  buffer: LiveJobMessage[];
  overflowed: boolean;
  /** A replay loop is running for this task. */
  running: boolean;
  /** History starts at the tail of this many output bytes (resolved when the replay starts). */
  tail?: number;
}

const CLOSE_BRACE = Buffer.from("}");
const REPLAY_BUFFER = 256;
const MAX_CHANNELS_PER_CONNECTION = 100;
const WINDOW_PAGE = 512;

/** A job channel subscriber: per task, history from its cursor, then live, gap-free. */
class JobSub implements ChannelSub {
  private stopped = false;
  private readonly tasks = new Map<string, TaskCursor>();
  /** When live messages began to reach this subscriber (again, after a resync). */
  private liveSince = Number.POSITIVE_INFINITY;

  constructor(
    readonly conn: PusherConnection,
    private readonly name: string,
    private readonly backbone: string,
    private readonly jobId: string,
    private readonly since: Record<string, number>,
    /** Bytes of output history for tasks not in `since`; undefined for all of it. */
    private readonly tail?: number,
  ) {}

  channelName(): string {
    return this.name;
  }

  async start(): Promise<void> {
    // Live first (buffered while replaying), then the list of tasks: nothing falls in between.
    for (const [task, seq] of Object.entries(this.since)) this.cursor(task, seq + 1, true);
    await this.conn.server.join(this.backbone, this);
    this.liveSince = performance.now();
    if (this.stopped) return;
    const known = await this.conn.server.deps.store.listJobTasks(this.jobId);
    for (const t of known) if (!this.tasks.has(t)) this.cursor(t, 1, true, this.tail);
    this.conn.send(encodeEvent("pusher_internal:subscription_succeeded", {}, this.name));
    for (const [t, c] of this.tasks) if (c.replaying) void this.replay(t);
  }

  private cursor(task: string, next: number, replaying: boolean, tail?: number): TaskCursor {
    const c: TaskCursor = { next, replaying, buffer: [], overflowed: false, running: false };
    if (tail !== undefined) c.tail = tail;
    this.tasks.set(task, c);
    return c;
  }

  onMessage(msg: LiveJobMessage | null, shared: Buffer): void {
    if (this.stopped || !msg) return;
    let c = this.tasks.get(msg.task);
    // A task first seen live mid-log (before the task list was read, or missing from it) gets the
    // tail too: the gap to `msg.from` starts its replay, which resolves the tail first.
    if (!c) c = this.cursor(msg.task, 1, false, msg.from > 1 ? this.tail : undefined);
    if (c.replaying) {
      if (c.buffer.length < REPLAY_BUFFER) c.buffer.push(msg);
      else c.overflowed = true;
      return;
    }
    this.deliver(msg.task, c, msg, shared);
  }

  /** Sends the part of `msg` at or after the cursor; a gap starts a replay. */
  private deliver(task: string, c: TaskCursor, msg: LiveJobMessage, shared: Buffer | null): void {
    const lastSeq = msg.to;
    if (lastSeq < c.next) return;
    if (msg.from > c.next) {
      c.replaying = true;
      c.buffer.push(msg);
      void this.replay(task);
      return;
    }
    if (msg.from === c.next && shared) {
      this.conn.send(shared);
    } else {
      const entries = msg.entries.filter((e) => e.seq >= c.next);
      this.conn.send(this.conn.server.event("log", JSON.stringify({ task, entries }), this.name));
    }
    c.next = lastSeq + 1;
  }

  private async replay(task: string): Promise<void> {
    const c = this.tasks.get(task);
    if (!c || c.running) return;
    c.running = true;
    const { store } = this.conn.server.deps;
    try {
      if (c.tail !== undefined) {
        const bytes = c.tail;
        delete c.tail;
        const start = await store.tailStart(task, bytes);
        if (this.stopped) return;
        if (start && start.seq > c.next) {
          // Tells the client where history starts (see protocol.ts); the replay goes on from there.
          const skipped: SkippedEntry = {
            kind: "skipped",
            seq: c.next,
            toSeq: start.seq - 1,
            textBytes: start.textStart,
          };
          const ev = this.conn.server.event(
            "log",
            JSON.stringify({ task, entries: [skipped] }),
            this.name,
          );
          if (!this.conn.send(ev)) return;
          c.next = start.seq;
        }
      }
      for (;;) {
        if (this.stopped) return;
        await this.conn.drained();
        if (this.stopped) return;
        const page = await this.conn.server.historyPage(this.name, task, c.next, this.liveSince);
        if (this.stopped) return;
        if (page.frame) {
          if (!this.conn.send(page.frame)) return;
          c.next = page.next;
          continue;
        }
        if (c.overflowed) {
          c.overflowed = false;
          c.buffer = [];
          continue;
        }
        // Caught up with the store: whatever was published meanwhile is in the buffer.
        const buffered = c.buffer;
        c.buffer = [];
        c.replaying = false;
        c.running = false;
        this.conn.send(
          this.conn.server.event("caught-up", JSON.stringify({ task, seq: c.next - 1 }), this.name),
        );
        for (const m of buffered) {
          if (c.replaying) {
            c.buffer.push(m);
          } else {
            this.deliver(task, c, m, null);
          }
        }
        return;
      }
    } catch (err) {
      c.running = false;
      this.conn.log.error({ err, task }, "history replay failed");
      this.conn.close(PUSHER_CLOSE.goingAway, "history unavailable");
    }
  }

  /** The backbone may have lost messages: re-read every task from its cursor. */
  resync(): void {
    this.liveSince = performance.now();
    for (const [task, c] of this.tasks) {
      if (c.replaying) {
        c.overflowed = true;
        continue;
      }
      c.replaying = true;
      void this.replay(task);
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    void this.conn.server.leave(this.backbone, this);
  }
}

/** The leading entries whose text fits `maxChars` (one at least). */
function firstPage(entries: LogEntry[], maxChars: number): LogEntry[] {
  let size = 0;
  for (let i = 0; i < entries.length; i++) {
    const e = entries[i] as LogEntry;
    size += entryChars(e);
    if (i > 0 && size > maxChars) return entries.slice(0, i);
  }
  return entries;
}
