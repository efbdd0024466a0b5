/**
 * The subset of the Pusher Channels protocol (version 7) Drover serves, and Drover's events.
 *
 * Connect to `/app/<app_key>?protocol=7`; the server sends `pusher:connection_established`
 * (`socket_id`, `activity_timeout` in seconds). Either side may send `pusher:ping`, answered by
 * `pusher:pong`. Channels: `private-job-<jobId>` (event `log`, `caught-up`) and
 * `private-project-<projectId>` (event `status`), subscribed with `pusher:subscribe`
 * `{channel, auth, channel_data?}`. A `log` event's data is `{task, entries}`; live ones also carry
 * `from` and `to`, the first and last seq they cover.
 *
 * Drover's own events (`log`, `caught-up`, `status`) carry `data` as a JSON object rather than a
 * JSON-encoded string: pusher-js accepts both and so skips a second parse of every log batch (the
 * server also skips escaping it). `pusher:*` events keep the string form. A client that insists on
 * strings is served by the `stringData` server option.
 *
 * History: on a job channel, `channel_data` may be a JSON string `{"since": {"<taskId>": <seq>}}`;
 * the server then sends every stored entry of each task of the job after that seq (from the start
 * for tasks not named), then live ones, with no gap and no duplicate, and a `caught-up` event per
 * task at the hand-over. Clients keep the highest seq seen per task and send it again when they
 * resubscribe (after a reconnect, for example after `PUSHER_CLOSE.slowConsumer`).
 *
 * Tail: `channel_data` may also carry `"tail": <bytes>` (an integer, 0 to `MAX_HISTORY_TAIL_BYTES`;
 * anything else is refused with `pusher:subscription_error`, status 400). Each task not named in
 * `since` then replays only about the last `tail` bytes of its output (from the start of the entry
 * holding that byte: at least `tail` bytes when there are, less than an entry more). When that
 * leaves earlier entries out, its first `log` event carries one entry
 * `{"kind":"skipped","seq":1,"toSeq":k-1,"textBytes":n}` (`n` bytes of output before seq `k`) and
 * entries from `k` follow. A client treats `toSeq` as the seq seen, like a `dropped` entry's, so a
 * resubscription resumes after the tail; to get everything, resubscribe with `since: {task: 0}`.
 */
export const PUSHER_PROTOCOL_VERSION = 7;

/** Largest `tail` a subscription may ask for (bytes of output per task). */
export const MAX_HISTORY_TAIL_BYTES = 64 * 1024 * 1024;

/** Close and error codes; ranges as Pusher defines them (40xx fatal, 41xx backoff, 42xx retry). */
export const PUSHER_CLOSE = {
  appNotFound: 4001,
  pathNotFound: 4005,
  invalidVersionFormat: 4006,
  unsupportedProtocol: 4007,
  noProtocol: 4008,
  unauthorized: 4009,
  /** The client did not read fast enough: reconnect and resume from the last seq it saw. */
  slowConsumer: 4150,
  /** The server is going away: reconnect at once. */
  goingAway: 4200,
  /** No pong to the server's ping in time. */
  pongTimeout: 4201,
} as const;

export const JOB_CHANNEL_PREFIX = "private-job-";
export const PROJECT_CHANNEL_PREFIX = "private-project-";

export function encodeEvent(event: string, data: unknown, channel?: string): string {
  const d = typeof data === "string" ? data : JSON.stringify(data);
  return channel === undefined
    ? JSON.stringify({ event, data: d })
    : JSON.stringify({ event, channel, data: d });
}

/** An event whose `data` is already JSON text, embedded as a value (see the note above). */
export function encodeJsonEvent(event: string, json: string, channel: string): string {
  return `{"event":${JSON.stringify(event)},"channel":${JSON.stringify(channel)},"data":${json}}`;
}
