/**
 * The ingest client a build agent uses to stream one task's output to the output-processor.
 *
 * Lifecycle: `new OutputClient(opts)`, `connect()` (resolves once authenticated; keeps retrying
 * with backoff while the server is unreachable, rejects only when the server refuses the token),
 * then any number of `stepStarted`/`write`/`stepFinished`, one `taskFinished`, `flush()` and
 * `close()`. `write` never blocks: frames are numbered and queued, sent as the connection allows
 * (at most `maxUnacked` frames in flight) and kept until acknowledged; after a reconnect every
 * unacknowledged frame is resent in order, and the server stores each exactly once.
 *
 * Batching adapts to load: at most `maxInflightMessages` messages are unacknowledged, so while the
 * server is busy, writes queue up and leave as one bigger message (up to `MESSAGE_TARGET_CHARS`);
 * on an idle connection every write leaves at once. A producer that must bound its memory waits on
 * `whenBacklogBelow` (see `backlog`).
 *
 * Kept free of server dependencies (no Redis, no store): only `ws`, `zod` and `pino`.
 */
import { TextDecoder } from "node:util";
import { pino, type Logger } from "pino";
import { connectOptions, tlsFailure, type ClientTls } from "@drover/tls";
import WebSocket from "ws";
import {
  CLIENT_SILENCE_MS,
  INGEST_PATH,
  INGEST_PROTOCOL_VERSION,
  MAX_FRAME_DATA,
  MESSAGE_TARGET_CHARS,
  entryChars,
  INGEST_CLOSE,
  isFatalIngestClose,
  serverMessageSchema,
  type Frame,
} from "../protocol/ingest.js";
import { OutputError } from "../errors.js";

export interface OutputClientOptions {
  /** Base URL of the output-processor (`ws://host:8585`, `http://host:8585` or the full ingest URL). */
  url: string;
  /** The task's ingest token. */
  token: string;
  taskId: string;
  logger?: Logger;
  /** Frames sent but not yet acknowledged before sending pauses (default 8192). */
  maxUnacked?: number;
  /** Messages sent but not yet acknowledged before sending pauses (default 4). */
  maxInflightMessages?: number;
  /** CA (and client certificate) a `wss://` output-processor is verified against (`DROVER_TLS_CA`). */
  tls?: ClientTls;
}

/** Frames merged from consecutive writes stay under this many characters. */
const MERGE_LIMIT = 64 * 1024;
/** Bytes queued in the socket beyond which sending waits. */
const MAX_SOCKET_BUFFER = 2 * 1024 * 1024;
const MAX_BACKOFF_MS = 5_000;
/** Characters of frame data sent but not yet acknowledged before sending pauses. */
const MAX_UNACKED_CHARS = 4 * 1024 * 1024;

interface Waiter {
  seq: number;
  resolve: () => void;
  reject: (err: Error) => void;
}

export function ingestUrl(url: string): string {
  const u = new URL(url);
  if (u.protocol === "http:") u.protocol = "ws:";
  if (u.protocol === "https:") u.protocol = "wss:";
  if (u.pathname === "/" || u.pathname === "") u.pathname = INGEST_PATH;
  return u.toString();
}

export class OutputClient {
  private readonly url: string;
  private readonly log: Logger;
  private readonly maxUnacked: number;
  /** Unacknowledged frames in seq order; `queue[0..sentCount)` are on the current connection. */
  private queue: Frame[] = [];
  private sentCount = 0;
  /** Characters of frame data in `queue[0..sentCount)`. */
  private inflightChars = 0;
  /** Characters of frame data in `queue`. */
  private queuedChars = 0;
  /** Last seq of each unacknowledged message on the current connection, oldest first. */
  private inflightMessages: number[] = [];
  private readonly maxInflightMessages: number;
  private backlogWaiters: Array<{
    below: number;
    resolve: () => void;
    reject: (e: Error) => void;
  }> = [];
  /** Highest seq ever put on a wire: such a frame is never changed again. */
  private sealedSeq = 0;
  private nextSeq = 1;
  private ackedSeq = 0;
  private ws: WebSocket | null = null;
  private authed = false;
  private closing = false;
  private fatal: Error | null = null;
  private attempt = 0;
  private pumpScheduled = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private silenceTimer: NodeJS.Timeout | null = null;
  private waiters: Waiter[] = [];
  private connectWaiters: Array<{ resolve: () => void; reject: (e: Error) => void }> = [];
  private readonly decoders = new Map<string, TextDecoder>();

  constructor(private readonly opts: OutputClientOptions) {
    this.url = ingestUrl(opts.url);
    this.log = (opts.logger ?? pino({ level: "silent" })).child({ taskId: opts.taskId });
    this.maxUnacked = opts.maxUnacked ?? 8192;
    this.maxInflightMessages = Math.max(1, opts.maxInflightMessages ?? 4);
  }

  /** Opens the connection; resolves when the server accepted the token. */
  connect(): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.authed) return Promise.resolve();
    const p = new Promise<void>((resolve, reject) => this.connectWaiters.push({ resolve, reject }));
    if (!this.ws && !this.reconnectTimer) this.open();
    return p;
  }

  stepStarted(step: number, name: string): void {
    this.enqueue({ kind: "step_started", seq: 0, ts: now(), step, name });
  }

  write(step: number, stream: "out" | "err", data: string | Uint8Array): void {
    let text: string;
    if (typeof data === "string") {
      text = data;
    } else {
      const key = `${step}:${stream}`;
      let dec = this.decoders.get(key);
      if (!dec) this.decoders.set(key, (dec = new TextDecoder("utf-8")));
      text = dec.decode(data, { stream: true });
    }
    this.appendText(step, stream, text);
  }

  stepFinished(step: number, exitCode: number | null, status: string): void {
    for (const stream of ["out", "err"] as const) {
      const key = `${step}:${stream}`;
      const dec = this.decoders.get(key);
      if (dec) {
        this.decoders.delete(key);
        this.appendText(step, stream, dec.decode());
      }
    }
    this.enqueue({ kind: "step_finished", seq: 0, ts: now(), step, exitCode, status });
  }

  taskFinished(result: string): void {
    this.enqueue({ kind: "task_finished", seq: 0, ts: now(), result });
  }

  /** Resolves when every frame created so far is acknowledged by the server. */
  flush(): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    const target = this.nextSeq - 1;
    if (this.ackedSeq >= target) return Promise.resolve();
    this.schedulePump();
    return new Promise((resolve, reject) => this.waiters.push({ seq: target, resolve, reject }));
  }

  /**
   * Flushes, then closes the connection and stops reconnecting. With `timeoutMs`, gives up waiting
   * for acknowledgements after that long (logging how many frames may be lost) instead of
   * waiting for the output-processor indefinitely.
   */
  async close(opts: { timeoutMs?: number } = {}): Promise<void> {
    if (!this.fatal && this.nextSeq - 1 > this.ackedSeq) {
      const flushed = this.flush().then(() => true);
      const timedOut =
        opts.timeoutMs === undefined
          ? null
          : new Promise<boolean>((r) => setTimeout(() => r(false), opts.timeoutMs).unref());
      const ok = await (timedOut ? Promise.race([flushed, timedOut]) : flushed);
      if (!ok) {
        this.log.error(
          { unacked: this.queue.length, ackedSeq: this.ackedSeq },
          "output-processor did not acknowledge the last frames in time; giving up",
        );
      }
    }
    this.closing = true;
    for (const w of this.backlogWaiters.splice(0)) w.resolve();
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    for (const w of [...this.waiters.splice(0), ...this.connectWaiters.splice(0)]) {
      w.reject(
        new OutputError("DROVER_ERR_OUTPUT_CLIENT_CLOSED", "client closed before acknowledgement"),
      );
    }
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const ws = this.ws;
    this.ws = null;
    if (ws && ws.readyState !== WebSocket.CLOSED) {
      await new Promise<void>((resolve) => {
        ws.once("close", () => resolve());
        ws.close(1000, "done");
      });
    }
  }

  /** Characters of output written but not yet acknowledged by the server (queued or in flight). */
  get backlog(): number {
    return this.queuedChars;
  }

  /**
   * Resolves once `backlog` is under `chars` (at once if it is); rejects if the client fails for
   * good. A producer awaits it between writes to bound the memory its output may hold.
   */
  whenBacklogBelow(chars: number): Promise<void> {
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.queuedChars < chars || this.closing) return Promise.resolve();
    return new Promise((resolve, reject) =>
      this.backlogWaiters.push({ below: chars, resolve, reject }),
    );
  }

  /** Highest sequence number the server acknowledged. */
  get acknowledged(): number {
    return this.ackedSeq;
  }

  /** The unsent output frame of this step and stream that writes are being merged into, if any. */
  private openFrame(
    step: number,
    stream: "out" | "err",
  ): Extract<Frame, { kind: "output" }> | null {
    const last = this.queue[this.queue.length - 1];
    return last &&
      last.kind === "output" &&
      last.seq > this.sealedSeq &&
      last.step === step &&
      last.stream === stream
      ? last
      : null;
  }

  private appendText(step: number, stream: "out" | "err", text: string): void {
    let rest = text;
    while (rest.length > 0) {
      const last = this.openFrame(step, stream);
      if (last && last.data.length < MERGE_LIMIT) {
        const room = cutPoint(rest, MERGE_LIMIT - last.data.length);
        last.data += rest.slice(0, room);
        this.queuedChars += room;
        rest = rest.slice(room);
        if (rest.length === 0) break;
      }
      const n = cutPoint(rest, Math.min(MERGE_LIMIT, MAX_FRAME_DATA));
      this.enqueue({ kind: "output", seq: 0, ts: now(), step, stream, data: rest.slice(0, n) });
      rest = rest.slice(n);
    }
  }

  private enqueue(frame: Frame): void {
    if (this.closing) throw new OutputError("DROVER_ERR_OUTPUT_CLIENT_CLOSED", "client closed");
    // Refused for good: nothing will ever be sent, so keep nothing (the error was logged).
    if (this.fatal) return;
    frame.seq = this.nextSeq++;
    this.queue.push(frame);
    this.queuedChars += entryChars(frame);
    this.schedulePump();
  }

  private schedulePump(): void {
    if (this.pumpScheduled || !this.authed) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const ws = this.ws;
    if (!ws || !this.authed || ws.readyState !== WebSocket.OPEN) return;
    while (this.sentCount < this.queue.length) {
      // Resumed by the next ack.
      if (
        this.sentCount >= this.maxUnacked ||
        this.inflightChars >= MAX_UNACKED_CHARS ||
        this.inflightMessages.length >= this.maxInflightMessages
      ) {
        return;
      }
      if (ws.bufferedAmount > MAX_SOCKET_BUFFER) {
        setTimeout(() => this.schedulePump(), 5);
        return;
      }
      const frames: Frame[] = [];
      let size = 0;
      while (
        this.sentCount + frames.length < this.queue.length &&
        this.sentCount + frames.length < this.maxUnacked &&
        frames.length < 4096
      ) {
        const f = this.queue[this.sentCount + frames.length] as Frame;
        if (frames.length > 0 && size + entryChars(f) > MESSAGE_TARGET_CHARS) break;
        frames.push(f);
        size += entryChars(f);
      }
      this.sentCount += frames.length;
      this.inflightChars += size;
      this.inflightMessages.push((frames[frames.length - 1] as Frame).seq);
      this.sealedSeq = Math.max(this.sealedSeq, (frames[frames.length - 1] as Frame).seq);
      ws.send(JSON.stringify({ type: "frames", task: this.opts.taskId, frames }));
    }
  }

  private open(): void {
    if (this.closing || this.fatal) return;
    const ws = new WebSocket(this.url, {
      perMessageDeflate: false,
      ...connectOptions(this.opts.tls),
    });
    this.ws = ws;
    this.authed = false;
    this.sentCount = 0;
    this.inflightChars = 0;
    this.inflightMessages = [];
    ws.on("open", () => {
      ws.send(
        JSON.stringify({
          type: "hello",
          protocol: INGEST_PROTOCOL_VERSION,
          token: this.opts.token,
          task: this.opts.taskId,
        }),
      );
    });
    ws.on("message", (raw) => {
      this.heard(ws);
      this.onMessage(ws, raw.toString());
    });
    ws.on("ping", () => this.heard(ws));
    ws.on("open", () => this.heard(ws));
    ws.on("error", (err) => {
      // A certificate that is expired, of another CA or for another name does not heal by retrying.
      const tls = tlsFailure(err, { peer: `the output-processor at ${this.url}` });
      if (tls && tls.code !== "DROVER_ERR_TLS_HANDSHAKE" && ws === this.ws) {
        this.fatal = tls;
        this.log.error({ code: tls.code }, tls.message);
        for (const w of this.connectWaiters.splice(0)) w.reject(tls);
        for (const w of this.waiters.splice(0)) w.reject(tls);
        for (const w of this.backlogWaiters.splice(0)) w.reject(tls);
        return;
      }
      this.log.debug({ err }, "ingest connection error");
    });
    ws.on("close", (code, reason) => this.onClose(ws, code, reason.toString()));
  }

  /** A half-open connection (the server vanished without a FIN) is ended after a silence. */
  private heard(ws: WebSocket): void {
    if (ws !== this.ws) return;
    if (this.silenceTimer) clearTimeout(this.silenceTimer);
    this.silenceTimer = setTimeout(() => {
      if (ws === this.ws) {
        this.log.warn("output-processor silent; reconnecting");
        ws.terminate();
      }
    }, CLIENT_SILENCE_MS);
    this.silenceTimer.unref();
  }

  private onMessage(ws: WebSocket, text: string): void {
    if (ws !== this.ws) return;
    let msg;
    try {
      msg = serverMessageSchema.parse(JSON.parse(text));
    } catch (err) {
      this.log.warn({ err }, "ignoring malformed message from output-processor");
      return;
    }
    if (msg.type === "welcome") {
      this.authed = true;
      this.attempt = 0;
      this.acknowledge(msg.lastSeq);
      this.log.debug({ lastSeq: msg.lastSeq, pending: this.queue.length }, "ingest authenticated");
      for (const w of this.connectWaiters.splice(0)) w.resolve();
      this.schedulePump();
    } else {
      this.acknowledge(msg.seq);
      this.schedulePump();
    }
  }

  private acknowledge(seq: number): void {
    if (seq <= this.ackedSeq) return;
    this.ackedSeq = seq;
    let n = 0;
    while (n < this.queue.length && (this.queue[n] as Frame).seq <= seq) n++;
    if (n > 0) {
      for (let i = 0; i < n; i++) {
        const chars = entryChars(this.queue[i] as Frame);
        if (i < this.sentCount) this.inflightChars -= chars;
        this.queuedChars -= chars;
      }
      this.queue = this.queue.slice(n);
      this.sentCount = Math.max(0, this.sentCount - n);
    }
    while ((this.inflightMessages[0] ?? Number.POSITIVE_INFINITY) <= seq) {
      this.inflightMessages.shift();
    }
    if (this.backlogWaiters.length > 0) {
      this.backlogWaiters = this.backlogWaiters.filter((w) => {
        if (this.queuedChars >= w.below) return true;
        w.resolve();
        return false;
      });
    }
    if (this.waiters.length > 0) {
      const still: Waiter[] = [];
      for (const w of this.waiters) {
        if (w.seq <= seq) w.resolve();
        else still.push(w);
      }
      this.waiters = still;
    }
  }

  /**
   * The server refused the task as finished. When this client sent the `task_finished` and
   * nothing after it, the server stored every frame up to it: acknowledge them and stop.
   */
  private finishedDelivered(): boolean {
    const i = this.queue.findIndex((f) => f.kind === "task_finished");
    if (i < 0 || i !== this.queue.length - 1 || i >= this.sealedCount()) return false;
    this.acknowledge((this.queue[i] as Frame).seq);
    this.closing = true;
    for (const w of this.connectWaiters.splice(0)) w.resolve();
    this.log.debug("task finished and stored; connection done");
    return true;
  }

  /** Frames of `queue` that were ever put on a wire. */
  private sealedCount(): number {
    let n = 0;
    while (n < this.queue.length && (this.queue[n] as Frame).seq <= this.sealedSeq) n++;
    return n;
  }

  private onClose(ws: WebSocket, code: number, reason: string): void {
    if (ws !== this.ws) return;
    this.ws = null;
    this.authed = false;
    this.sentCount = 0;
    this.inflightChars = 0;
    this.inflightMessages = [];
    if (this.closing) return;
    if (code === INGEST_CLOSE.taskFinished && this.finishedDelivered()) return;
    if (isFatalIngestClose(code)) {
      this.fatal = new OutputError(
        code === INGEST_CLOSE.taskFinished
          ? "DROVER_ERR_OUTPUT_TASK_FINISHED"
          : "DROVER_ERR_OUTPUT_CLIENT_REJECTED",
        `output-processor refused the connection: ${code} ${reason}`,
      );
      this.log.error({ code, reason }, "output-processor refused the connection");
      for (const w of this.connectWaiters.splice(0)) w.reject(this.fatal);
      for (const w of this.waiters.splice(0)) w.reject(this.fatal);
      for (const w of this.backlogWaiters.splice(0)) w.reject(this.fatal);
      return;
    }
    const delay = Math.min(MAX_BACKOFF_MS, 100 * 2 ** this.attempt) * (0.5 + Math.random() / 2);
    this.attempt++;
    this.log.debug({ code, reason, delay }, "ingest connection lost; reconnecting");
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      this.open();
    }, delay);
  }
}

function now(): number {
  return performance.timeOrigin + performance.now();
}

/** A cut index at most `max` that does not split a surrogate pair. */
function cutPoint(s: string, max: number): number {
  if (s.length <= max) return s.length;
  let n = Math.max(1, max);
  const c = s.charCodeAt(n - 1);
  if (c >= 0xd800 && c <= 0xdbff && n > 1) n--;
  return n;
}
