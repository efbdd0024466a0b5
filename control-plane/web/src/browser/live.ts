/**
 * Live updates for the pages: joins the project's private Pusher channel
 * (`private-project-<projectId>`, authorized by `POST /api/pusher/auth`) and calls back on each
 * `status` event. While the socket is down (or pusher-js failed to load) a slow poll stands in.
 */
import type * as PusherModule from "pusher-js";
import { authHeaders, h } from "./client.js";

// pusher.min.js, loaded by the page shell before this module, defines the global.
declare const Pusher: typeof PusherModule.default.default | undefined;

/** The shell's `data-live`: the output-processor's Pusher app as browsers reach it. */
interface LiveSettings {
  key: string;
  wsHost: string | null;
  wsPort: number;
  forceTLS: boolean;
}

/** A project channel event: a workflow changed (control plane) or a task's step (output). */
export interface ProjectEvent {
  kind: string;
  workflowId?: string;
  pipelineId?: string;
  jobId?: string;
  status?: string;
}

/** How often the fallback poll runs while the socket is down. */
export const FALLBACK_POLL_MS = 30_000;
/** Events closer together than this trigger one refresh. */
const DEBOUNCE_MS = 250;

function settings(): LiveSettings | null {
  try {
    return JSON.parse(document.body.dataset.live ?? "null") as LiveSettings | null;
  } catch {
    return null;
  }
}

/** A small "live" / "reconnecting" indicator for the page. */
export function liveIndicator(): HTMLElement {
  const state = document.body.dataset.liveState ?? "connecting";
  return h(
    "span",
    { id: "live-state", class: `conn ${state}`, role: "status" },
    state === "connected" ? "live" : state,
  );
}

function show(state: string): void {
  const el = document.getElementById("live-state");
  if (!el) return;
  el.textContent = state === "connected" ? "live" : state;
  el.className = `conn ${state}`;
  document.body.dataset.liveState = state;
}

/**
 * Calls `refresh` after events of the project that `wanted` accepts (debounced), and every
 * `FALLBACK_POLL_MS` while the socket is not connected. Returns a function that stops it.
 */
export function watchProject(
  projectId: string,
  wanted: (e: ProjectEvent) => boolean,
  refresh: () => Promise<unknown>,
): () => void {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let running = false;
  let again = false;
  const run = (): void => {
    if (running) {
      again = true;
      return;
    }
    running = true;
    void refresh()
      .catch(() => undefined)
      .finally(() => {
        running = false;
        if (again) {
          again = false;
          soon();
        }
      });
  };
  const soon = (): void => {
    clearTimeout(timer);
    timer = setTimeout(run, DEBOUNCE_MS);
  };
  let poll: ReturnType<typeof setInterval> | undefined;
  const polling = (on: boolean): void => {
    if (on && poll === undefined) poll = setInterval(run, FALLBACK_POLL_MS);
    if (!on && poll !== undefined) {
      clearInterval(poll);
      poll = undefined;
    }
  };

  const cfg = settings();
  if (!cfg || typeof Pusher === "undefined") {
    show("unavailable");
    polling(true);
    return () => polling(false);
  }
  const pusher = new Pusher(cfg.key, {
    cluster: "drover",
    wsHost: cfg.wsHost ?? location.hostname,
    wsPort: cfg.wsPort,
    wssPort: cfg.wsPort,
    forceTLS: cfg.forceTLS,
    enabledTransports: ["ws", "wss"],
    channelAuthorization: {
      endpoint: "/api/pusher/auth",
      transport: "ajax",
      customHandler: ({ socketId, channelName }, cb) => {
        fetch("/api/pusher/auth", {
          method: "POST",
          credentials: "same-origin",
          headers: authHeaders(),
          body: new URLSearchParams({ socket_id: socketId, channel_name: channelName }),
        })
          .then(async (r) => {
            if (!r.ok) throw new Error(`channel authorization failed: HTTP ${r.status}`);
            cb(null, (await r.json()) as { auth: string });
          })
          .catch((err: unknown) => cb(err instanceof Error ? err : new Error(String(err)), null));
      },
    },
  });
  let subscribed = false;
  pusher.connection.bind("state_change", ({ current }: { current: string }) => {
    show(current === "connected" && !subscribed ? "connecting" : current);
    // Down: poll slowly; up again: refresh once, since events may have been missed.
    if (current === "connected") {
      if (subscribed) run();
    } else polling(true);
  });
  const channel = pusher.subscribe(`private-project-${projectId}`);
  channel.bind("pusher:subscription_succeeded", () => {
    subscribed = true;
    polling(false);
    show("connected");
  });
  channel.bind("pusher:subscription_error", () => {
    show("unavailable");
    polling(true);
  });
  channel.bind("status", (e: ProjectEvent | null) => {
    if (e && wanted(e)) soon();
  });
  return () => {
    polling(false);
    clearTimeout(timer);
    pusher.disconnect();
  };
}
