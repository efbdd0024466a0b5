/**
 * The ingest wire protocol between a build agent and the output-processor, over one WebSocket per
 * task at `INGEST_PATH`. Every message is a JSON text message.
 *
 * 1. The agent sends `hello` (its task token and task id) within `AUTH_TIMEOUT_MS`; the server
 *    answers `welcome` with the highest sequence number it has stored for the task (0 if none), or
 *    closes with `INGEST_CLOSE.unauthorized`.
 * 2. The agent sends `frames` messages. Every frame carries a sequence number, contiguous from 1 per
 *    task across all frame kinds. The server stores each frame exactly once (a frame whose seq it
 *    already stored is acknowledged and dropped) and in order (a frame that skips a number closes
 *    the connection with `INGEST_CLOSE.sequenceGap`).
 * 3. The server answers with cumulative `ack`s: every frame up to `seq` is stored. The agent keeps
 *    every unacknowledged frame and resends them, in order, after reconnecting.
 * 4. `task_finished` is the task's last frame. Once it is stored the task's token stops working: a
 *    `hello` for the task, or a new frame after it, is refused with `INGEST_CLOSE.taskFinished`. An
 *    agent that sent `task_finished` and is refused so knows every frame it sent was stored.
 *
 * Close codes tell the agent whether reconnecting can help: see `isFatalIngestClose`.
 */
import { z } from "zod";

export const INGEST_PROTOCOL_VERSION = 1;
export const INGEST_PATH = "/output/v1/ingest";
/** Largest WebSocket message the server accepts; larger ones close with `frameTooLarge`. */
export const MAX_MESSAGE_BYTES = 1024 * 1024;
/** Largest `data` of one output frame (UTF-16 code units); the client splits larger writes. */
export const MAX_FRAME_DATA = 256 * 1024;
/**
 * Characters a message (ingest, backbone or Pusher event) is kept under when it is assembled. V8
 * allocates strings over 128 KiB outside its young generation, where creating one costs tens of
 * times more per byte (measured: 0.3 GB/s against 15 GB/s below the line), so every process on the
 * path stays under it.
 */
export const MESSAGE_TARGET_CHARS = 96 * 1024;
/**
 * About how many characters an entry takes serialized: its data plus a fixed allowance for the
 * envelope. The one estimate behind message, window and history page budgets.
 */
export function entryChars(e: { kind: string; data?: string }): number {
  return e.kind === "output" && e.data !== undefined ? e.data.length + 64 : 96;
}

/** Frames in one `frames` message. */
export const MAX_FRAMES_PER_MESSAGE = 4096;
export const AUTH_TIMEOUT_MS = 10_000;
/** The server pings every agent connection this often; it ends one silent for two intervals. */
export const HEARTBEAT_MS = 15_000;
/** An agent that hears nothing (no ack, no ping) for this long reconnects. */
export const CLIENT_SILENCE_MS = 40_000;

export const INGEST_CLOSE = {
  /** Bad JSON, an unknown message or a frame that fails the schema. Fatal. */
  malformed: 4400,
  /** The token was refused. Fatal. */
  unauthorized: 4401,
  /** A frame named another task than the token's. Fatal. */
  wrongTask: 4403,
  /** No `hello` within `AUTH_TIMEOUT_MS`. */
  authTimeout: 4408,
  /** A frame skipped a sequence number. Fatal (a client bug: resends are always in order). */
  sequenceGap: 4409,
  /** A newer connection for the same task took over this one. */
  superseded: 4410,
  /** The task's log already ends with `task_finished`: its token no longer works. Fatal. */
  taskFinished: 4411,
  /** A message or frame over the size limits. Fatal. */
  frameTooLarge: 4413,
  /** The server is shutting down; reconnect. */
  goingAway: 4503,
  /** The server failed to store frames; reconnect and resend. */
  internal: 4500,
} as const;

/** A WebSocket close reason: at most 123 bytes of UTF-8 (RFC 6455, 5.5), cut between characters. */
export function closeReason(text: string): string {
  let r = text.slice(0, 123);
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}

/** True for close codes after which reconnecting cannot succeed. */
export function isFatalIngestClose(code: number): boolean {
  return (
    code === INGEST_CLOSE.malformed ||
    code === INGEST_CLOSE.unauthorized ||
    code === INGEST_CLOSE.wrongTask ||
    code === INGEST_CLOSE.sequenceGap ||
    code === INGEST_CLOSE.taskFinished ||
    code === INGEST_CLOSE.frameTooLarge ||
    code === 1009
  );
}

const base = { seq: z.number().int().positive(), ts: z.number().nonnegative() };

export const outputFrameSchema = z.object({
  kind: z.literal("output"),
  ...base,
  step: z.number().int(),
  stream: z.enum(["out", "err"]),
  data: z.string().max(MAX_FRAME_DATA),
});
export const stepStartedFrameSchema = z.object({
  kind: z.literal("step_started"),
  ...base,
  step: z.number().int(),
  name: z.string().max(4096),
});
export const stepFinishedFrameSchema = z.object({
  kind: z.literal("step_finished"),
  ...base,
  step: z.number().int(),
  exitCode: z.number().int().nullable(),
  status: z.string().max(64),
});
export const taskFinishedFrameSchema = z.object({
  kind: z.literal("task_finished"),
  ...base,
  result: z.string().max(64),
});

export const frameSchema = z.discriminatedUnion("kind", [
  outputFrameSchema,
  stepStartedFrameSchema,
  stepFinishedFrameSchema,
  taskFinishedFrameSchema,
]);
export type Frame = z.infer<typeof frameSchema>;
export type OutputFrame = z.infer<typeof outputFrameSchema>;

export const clientMessageSchema = z.discriminatedUnion("type", [
  z.object({
    type: z.literal("hello"),
    protocol: z.literal(INGEST_PROTOCOL_VERSION),
    token: z.string().min(1).max(8192),
    task: z.string().min(1).max(256),
  }),
  z.object({
    type: z.literal("frames"),
    task: z.string().min(1).max(256),
    frames: z.array(frameSchema).min(1).max(MAX_FRAMES_PER_MESSAGE),
  }),
]);
export type ClientMessage = z.infer<typeof clientMessageSchema>;

export const serverMessageSchema = z.discriminatedUnion("type", [
  z.object({ type: z.literal("welcome"), lastSeq: z.number().int().nonnegative() }),
  z.object({ type: z.literal("ack"), seq: z.number().int().nonnegative() }),
]);
export type ServerMessage = z.infer<typeof serverMessageSchema>;

/** Parses one client message; returns a one-line reason saying what was wrong and where. */
export function parseClientMessage(
  text: string,
): { ok: true; message: ClientMessage } | { ok: false; reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    return { ok: false, reason: `not JSON: ${(err as Error).message}` };
  }
  const parsed = clientMessageSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const where = issue ? issue.path.join(".") || "(message)" : "(message)";
    return { ok: false, reason: `${where}: ${issue?.message ?? "invalid"}` };
  }
  return { ok: true, message: parsed.data };
}
