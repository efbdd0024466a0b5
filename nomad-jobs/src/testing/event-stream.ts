import type { NomadEvent } from "../client/types.js";
import type { Req, Res, Route } from "./http.js";
import type { NomadState } from "./state.js";

export interface EventStreamContext {
  state: NomadState;
  /** Open streams (a test can drop them). */
  streams: Set<Res>;
  heartbeatMs: number;
}

/** `/v1/event/stream`: NDJSON batches from `?index=`, filtered by `topic=Topic:Key`, `{}` heartbeats. */
export function eventStreamRoutes(ctx: EventStreamContext): Route[] {
  return [
    {
      methods: ["GET"],
      path: /^\/v1\/event\/stream$/,
      name: "/v1/event/stream",
      handle: (req, res, { query }) => stream(ctx, req, res, query),
    },
  ];
}

function stream(ctx: EventStreamContext, req: Req, res: Res, q: URLSearchParams): void {
  const { state } = ctx;
  const filters = q.getAll("topic").map((t) => {
    const i = t.indexOf(":");
    return i < 0 ? { topic: t, key: "*" } : { topic: t.slice(0, i), key: t.slice(i + 1) || "*" };
  });
  if (filters.length === 0) filters.push({ topic: "*", key: "*" });
  const ns = q.get("namespace") || "default";
  const match = (e: NomadEvent): boolean =>
    (ns === "*" || e.Namespace === "" || e.Namespace === ns) &&
    filters.some(
      (f) =>
        (f.topic === "*" || f.topic === e.Topic) &&
        (f.key === "*" || f.key === e.Key || (e.FilterKeys ?? []).includes(f.key)),
    );
  res.writeHead(200, {
    "content-type": "application/json",
    "X-Nomad-Index": String(state.index),
  });
  ctx.streams.add(res);
  let cursor = Number(q.get("index") ?? 0);
  const flush = (): void => {
    for (const item of state.eventsFrom(cursor)) {
      cursor = item.Index + 1;
      const events = item.Events.filter(match);
      if (events.length > 0)
        res.write(`${JSON.stringify({ Index: item.Index, Events: events })}\n`);
    }
  };
  flush();
  const onCommit = (): void => flush();
  state.on("commit", onCommit);
  const beat = setInterval(() => res.write("{}\n"), ctx.heartbeatMs);
  const end = (): void => {
    clearInterval(beat);
    state.off("commit", onCommit);
    ctx.streams.delete(res);
  };
  res.once("close", end);
  req.once("close", end);
}
