import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";
import type { Logger } from "pino";
import { WebSocketServer, type WebSocket } from "ws";
import type { TaskGrant, TaskTokenVerifier } from "../auth/token.js";
import {
  encodeJobMessage,
  jobChannel,
  projectChannel,
  type StatusMessage,
} from "../fanout/messages.js";
import { createMasker, type Masker, type StreamMasker } from "../masking/index.js";
import {
  AUTH_TIMEOUT_MS,
  HEARTBEAT_MS,
  INGEST_CLOSE,
  MAX_MESSAGE_BYTES,
  MESSAGE_TARGET_CHARS,
  closeReason,
  parseClientMessage,
  type Frame,
} from "../protocol/ingest.js";
import type { PubSub } from "../pubsub/types.js";
import type { LiveWindow } from "../store/live-window.js";
import type { LogStore, StoredFrame, TaskLogWriter } from "../store/types.js";

/** Bytes of received, not yet stored messages beyond which the socket is not read. */
const INBOX_HIGH_WATER = 4 * 1024 * 1024;

export interface IngestDeps {
  /** Called after each store with the frames and the output lines stored (metrics). */
  onStored?: (frames: number, lines: number) => void;
  verifier: TaskTokenVerifier;
  store: LogStore;
  window: LiveWindow;
  pubsub: PubSub;
  channelPrefix: string;
  logger: Logger;
}

/**
 * Accepts agent connections (one per task), stores each frame exactly once and in order, then
 * publishes it and acknowledges it. A newer connection for a task supersedes an older one on this
 * instance; the older one is closed after its in-flight frames are stored.
 */
export class IngestServer {
  private readonly wss = new WebSocketServer({
    noServer: true,
    maxPayload: 2 * MAX_MESSAGE_BYTES,
    perMessageDeflate: false,
  });
  private readonly sessions = new Map<string, IngestSession>();
  private readonly all = new Set<IngestSession>();
  private readonly heartbeat: NodeJS.Timeout;

  constructor(private readonly deps: IngestDeps) {
    this.heartbeat = setInterval(() => {
      for (const s of this.all) s.beat();
    }, HEARTBEAT_MS);
    this.heartbeat.unref();
  }

  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void {
    this.wss.handleUpgrade(req, socket, head, (ws) => {
      const s = new IngestSession(ws, this.deps, this);
      this.all.add(s);
      ws.once("close", () => this.all.delete(s));
    });
  }

  /** Registers `s` as the task's session, retiring any older one first. */
  async claim(taskId: string, s: IngestSession): Promise<void> {
    const old = this.sessions.get(taskId);
    this.sessions.set(taskId, s);
    if (old && old !== s)
      await old.retire(INGEST_CLOSE.superseded, "superseded by a newer connection");
  }

  release(taskId: string, s: IngestSession): void {
    if (this.sessions.get(taskId) === s) this.sessions.delete(taskId);
  }

  get connections(): number {
    return this.all.size;
  }

  async close(): Promise<void> {
    clearInterval(this.heartbeat);
    await Promise.all([...this.all].map((s) => s.retire(INGEST_CLOSE.goingAway, "server closing")));
    this.wss.close();
  }
}

class IngestSession {
  private grant: TaskGrant | null = null;
  private writer: TaskLogWriter | null = null;
  private log: Logger;
  private authTimer: NodeJS.Timeout | null;
  private inbox: string[] = [];
  private inboxBytes = 0;
  private paused = false;
  private processing: Promise<void> = Promise.resolve();
  private running = false;
  private closed = false;
  private masker: Masker | null = null;
  private alive = true;
  /** This connection stored the task's `task_finished`. */
  private finished = false;
  private readonly streams = new Map<string, StreamMasker>();

  constructor(
    private readonly ws: WebSocket,
    private readonly deps: IngestDeps,
    private readonly server: IngestServer,
  ) {
    this.log = deps.logger;
    this.authTimer = setTimeout(
      () => this.fail(INGEST_CLOSE.authTimeout, "no hello"),
      AUTH_TIMEOUT_MS,
    );
    ws.on("message", (data, isBinary) => this.onMessage(data as Buffer, isBinary));
    ws.on("close", () => void this.onClose());
    ws.on("pong", () => (this.alive = true));
    ws.on("error", (err) => this.log.debug({ err }, "ingest socket error"));
  }

  /** Pings; a connection that did not answer the previous ping (a dead agent) is ended. */
  beat(): void {
    if (this.closed) return;
    if (!this.alive) {
      this.log.info("agent connection silent; ending it");
      this.ws.terminate();
      return;
    }
    this.alive = false;
    this.ws.ping();
  }

  private onMessage(data: Buffer, isBinary: boolean): void {
    this.alive = true;
    if (this.closed) return;
    if (data.length > MAX_MESSAGE_BYTES) {
      return this.fail(
        INGEST_CLOSE.frameTooLarge,
        `message of ${data.length} bytes over ${MAX_MESSAGE_BYTES}`,
      );
    }
    if (isBinary) return this.fail(INGEST_CLOSE.malformed, "binary message: expected JSON text");
    this.inbox.push(data.toString("utf8"));
    this.inboxBytes += data.length;
    // Backpressure: stop reading the agent's socket while a backlog is being stored.
    if (this.inboxBytes > INBOX_HIGH_WATER && !this.paused) {
      this.paused = true;
      this.ws.pause();
    }
    if (!this.running) {
      this.running = true;
      this.processing = this.drain();
    }
  }

  private async drain(): Promise<void> {
    try {
      while (this.inbox.length > 0 && !this.closed) {
        const batch = this.inbox;
        this.inbox = [];
        this.inboxBytes = 0;
        if (this.paused) {
          this.paused = false;
          this.ws.resume();
        }
        if (!this.grant) {
          await this.authenticate(batch.shift() as string);
          if (!this.grant) return;
        }
        if (batch.length > 0) await this.ingest(batch);
      }
    } catch (err) {
      this.log.error({ err }, "storing frames failed");
      this.fail(INGEST_CLOSE.internal, "storing frames failed");
    } finally {
      this.running = false;
    }
  }

  private async authenticate(text: string): Promise<void> {
    const parsed = parseClientMessage(text);
    if (!parsed.ok) return this.fail(INGEST_CLOSE.malformed, parsed.reason);
    if (parsed.message.type !== "hello")
      return this.fail(INGEST_CLOSE.malformed, "expected hello first");
    const grant = await this.deps.verifier.verify(parsed.message.token);
    if (!grant) return this.fail(INGEST_CLOSE.unauthorized, "token refused");
    if (grant.taskId !== parsed.message.task) {
      return this.fail(INGEST_CLOSE.wrongTask, "token is for another task");
    }
    if (this.closed) return;
    if (this.authTimer) clearTimeout(this.authTimer);
    this.authTimer = null;
    this.log = this.deps.logger.child({ taskId: grant.taskId, jobId: grant.jobId });
    await this.server.claim(grant.taskId, this);
    if (this.closed) return;
    // After the claim: an older connection's frames (its task_finished among them) are stored.
    if ((await this.deps.store.stat(grant.taskId))?.finished) {
      return this.fail(
        INGEST_CLOSE.taskFinished,
        "task finished: its output token no longer works",
      );
    }
    if (this.closed) return;
    this.writer = await this.deps.store.openWriter({
      taskId: grant.taskId,
      jobId: grant.jobId,
      projectId: grant.projectId,
    });
    this.masker = grant.secrets.length > 0 ? createMasker(grant.secrets) : null;
    this.grant = grant;
    this.send({ type: "welcome", lastSeq: this.writer.lastSeq });
    this.log.debug({ lastSeq: this.writer.lastSeq }, "agent connected");
  }

  private async ingest(batch: string[]): Promise<void> {
    const grant = this.grant as TaskGrant;
    const writer = this.writer as TaskLogWriter;
    let next = writer.lastSeq + 1;
    const accepted: StoredFrame[] = [];
    for (const text of batch) {
      const parsed = parseClientMessage(text);
      if (!parsed.ok) return this.fail(INGEST_CLOSE.malformed, parsed.reason);
      const msg = parsed.message;
      if (msg.type !== "frames") return this.fail(INGEST_CLOSE.malformed, "hello sent twice");
      if (msg.task !== grant.taskId)
        return this.fail(INGEST_CLOSE.wrongTask, "frames for another task");
      for (const f of msg.frames) {
        if (f.seq < next) continue; // already stored: a resend
        if (this.finished) {
          await this.store(grant, writer, accepted);
          return this.fail(INGEST_CLOSE.taskFinished, `frame ${f.seq} after task_finished`);
        }
        if (f.seq > next)
          return this.fail(INGEST_CLOSE.sequenceGap, `expected seq ${next}, got ${f.seq}`);
        accepted.push(this.mask(f));
        if (f.kind === "task_finished") this.finished = true;
        next++;
      }
    }
    await this.store(grant, writer, accepted);
    this.send({ type: "ack", seq: writer.lastSeq });
  }

  /** Stores accepted frames, then the live window and the backbone, in that order. */
  private async store(
    grant: TaskGrant,
    writer: TaskLogWriter,
    accepted: StoredFrame[],
  ): Promise<void> {
    if (accepted.length > 0) {
      // Serialize each entry once for the store, the window and the backbone.
      const json = accepted.map((e) => JSON.stringify(e));
      await writer.append(accepted, json);
      if (this.deps.onStored) {
        let lines = 0;
        for (const e of accepted) {
          if (e.kind !== "output" || !e.data) continue;
          for (let i = e.data.indexOf("\n"); i >= 0; i = e.data.indexOf("\n", i + 1)) lines++;
        }
        this.deps.onStored(accepted.length, lines);
      }
      // Window before publish: whoever sees the message can read its entries back. Published in
      // messages of about `MESSAGE_TARGET_CHARS`, sent back to back in order.
      const channel = jobChannel(this.deps.channelPrefix, grant.jobId);
      await Promise.all(
        groupBySize(json).map(([from, to]) => {
          const entries = accepted.slice(from, to);
          const parts = json.slice(from, to);
          const msg = encodeJobMessage(
            grant.taskId,
            (entries[0] as StoredFrame).seq,
            (entries[entries.length - 1] as StoredFrame).seq,
            parts,
          );
          return this.deps.window.appendAndPublish
            ? this.deps.window.appendAndPublish(grant.taskId, entries, parts, channel, msg)
            : this.deps.window
                .append(grant.taskId, entries, parts)
                .then(() => this.deps.pubsub.publish(channel, msg));
        }),
      );
      for (const f of accepted) {
        if (f.kind === "output") continue;
        const status: StatusMessage = {
          jobId: grant.jobId,
          taskId: grant.taskId,
          kind: f.kind,
          seq: f.seq,
          ts: f.ts,
          ...(f.kind === "step_started" ? { step: f.step, name: f.name } : {}),
          ...(f.kind === "step_finished"
            ? { step: f.step, status: f.status, exitCode: f.exitCode }
            : {}),
          ...(f.kind === "task_finished" ? { result: f.result } : {}),
        };
        await this.deps.pubsub.publish(
          projectChannel(this.deps.channelPrefix, grant.projectId),
          JSON.stringify(status),
        );
      }
    }
  }

  private mask(f: Frame): StoredFrame {
    const m = this.masker;
    if (!m) return f;
    if (f.kind === "output") {
      const key = `${f.step}:${f.stream}`;
      let s = this.streams.get(key);
      if (!s) this.streams.set(key, (s = m.stream()));
      return { ...f, data: s.push(f.data) };
    }
    if (f.kind === "step_finished" || f.kind === "task_finished") {
      let tail = "";
      for (const [key, s] of this.streams) {
        if (f.kind === "task_finished" || key.startsWith(`${f.step}:`)) {
          tail += s.end();
          this.streams.delete(key);
        }
      }
      return tail ? { ...f, tail } : f;
    }
    return f;
  }

  private send(msg: unknown): void {
    if (!this.closed) this.ws.send(JSON.stringify(msg));
  }

  private fail(code: number, reason: string): void {
    if (this.closed) return;
    this.log.info({ code, reason }, "closing ingest connection");
    this.closed = true;
    this.ws.close(code, closeReason(reason));
  }

  /** Closes the connection after in-flight frames are stored. */
  async retire(code: number, reason: string): Promise<void> {
    this.inbox = [];
    await this.processing;
    this.fail(code, reason);
    await this.finish();
  }

  private async onClose(): Promise<void> {
    this.closed = true;
    if (this.authTimer) clearTimeout(this.authTimer);
    await this.processing;
    await this.finish();
  }

  private async finish(): Promise<void> {
    const w = this.writer;
    this.writer = null;
    if (w) await w.close().catch((err: unknown) => this.log.warn({ err }, "closing log failed"));
    if (this.grant) this.server.release(this.grant.taskId, this);
  }
}

/** Index ranges `[from, to)` of `json` whose texts add up to about `MESSAGE_TARGET_CHARS` each. */
function groupBySize(json: string[]): Array<[number, number]> {
  const groups: Array<[number, number]> = [];
  let from = 0;
  let size = 0;
  json.forEach((j, i) => {
    if (i > from && size + j.length > MESSAGE_TARGET_CHARS) {
      groups.push([from, i]);
      from = i;
      size = 0;
    }
    size += j.length;
  });
  if (json.length > from) groups.push([from, json.length]);
  return groups;
}
