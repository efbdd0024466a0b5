/**
 * The live job page. Loads the job from `GET /web/v1/jobs/{id}`, subscribes to
 * `private-job-<id>` with pusher-js (history first, then live; deduped by seq per task) and renders
 * steps as collapsible sections. History starts at the tail of each task's log (`tail` in
 * channel_data, 2 MiB by default); a task whose history starts later says how much is not shown
 * and offers to load all of it, which resubscribes with `since: {task: 0}`.
 */
import type * as PusherModule from "pusher-js";
import type { Channel, ChannelAuthorizationCallback } from "pusher-js";
import { createAnsiRenderer, type AnsiRenderer } from "./ansi.js";
import { mountJobTabs } from "./job-tabs.js";

type PusherClass = InstanceType<typeof PusherModule.default.default>;
// pusher.min.js, served beside this module, defines the global.
declare const Pusher: typeof PusherModule.default.default;

/** One entry of a task's log, as the output-processor publishes it. */
interface LogEntry {
  seq: number;
  kind: "output" | "step_started" | "step_finished" | "task_finished" | "dropped" | "skipped";
  ts: number;
  step?: number;
  name?: string;
  stream?: "out" | "err";
  data?: string;
  exitCode?: number | null;
  status?: string;
  tail?: string;
  toSeq?: number;
  textBytes?: number;
}

interface JobNode {
  task_id: string;
  index?: number;
  output_url?: string;
  steps?: { step: number; name: string }[];
}

interface JobView {
  id: string;
  name: string;
  number?: number | null;
  status: string;
  started_at?: string | null;
  stopped_at?: string | null;
  pipeline_number?: number | null;
  project: { slug: string; id?: string };
  latest_workflow: { name: string; id?: string };
  steps: JobNode[];
}

interface PusherSettings {
  key: string;
  wsHost: string | null;
  wsPort: number;
  forceTLS: boolean;
}

interface JobData {
  job: JobView;
  pusher: PusherSettings;
}

interface StepViewState {
  step: number;
  name: string | null;
  el: HTMLDetailsElement;
  icon: HTMLElement;
  nameEl: HTMLElement;
  exit: HTMLElement;
  dur: HTMLElement;
  log: HTMLElement;
  line: HTMLElement | null;
  cr: boolean;
  n: number;
  count: number;
  hidden: number;
  hiddenEl: HTMLElement | null;
  started: number | null;
  finished: number | null;
  status: string;
  ansi: AnsiRenderer;
}

interface TaskViewState {
  id: string;
  index: number;
  el: HTMLElement;
  h: HTMLElement;
  steps: Map<number, StepViewState>;
  current: StepViewState | null;
  caughtUp: boolean;
  skippedEl: HTMLElement | null;
}

/** Test hooks and overrides a page may set on `window`. */
interface PageWindow extends Window {
  droverTailBytes?: number;
  droverMaxLines?: number;
  droverPage?: unknown;
}
const win = window as PageWindow;

function byId<T extends HTMLElement = HTMLElement>(id: string): T {
  const el = document.getElementById(id);
  if (!el) throw new Error(`the page has no #${id}`);
  return el as T;
}

const root = byId("drover-job");
const jobId = root.dataset.jobId ?? "";
const openedAt = Date.now();

// Auth: an API token from ?token= or #token= on the first load, kept in this tab's
// sessionStorage and removed from the address bar; otherwise the session cookie.
const TOKEN_KEY = "drover.token";
let token: string | null = null;
{
  const q = new URLSearchParams(location.search);
  const h = new URLSearchParams(location.hash.slice(1));
  const given = q.get("token") || h.get("token");
  if (given) {
    token = given;
    try {
      sessionStorage.setItem(TOKEN_KEY, given);
    } catch {
      // storage disabled
    }
    q.delete("token");
    h.delete("token");
    const qs = q.toString();
    const hs = h.toString();
    history.replaceState(null, "", location.pathname + (qs ? `?${qs}` : "") + (hs ? `#${hs}` : ""));
  } else {
    try {
      token = sessionStorage.getItem(TOKEN_KEY);
    } catch {
      token = null;
    }
  }
}
const authHeaders = (): Record<string, string> =>
  token ? { authorization: `Bearer ${token}` } : {};

function notice(text: string): void {
  const n = byId("notice");
  n.textContent = text;
  n.hidden = !text;
}

const FINAL = new Set([
  "success",
  "failed",
  "canceled",
  "infrastructure_fail",
  "timedout",
  "unauthorized",
  "not_run",
]);
let job: JobView | null = null;

/**
 * "Rerun with SSH": reruns this job with SSH access in a new workflow; its Enable SSH step prints
 * the `ssh` command (the user's registered keys only).
 */
async function rerunWithSsh(): Promise<void> {
  const wf = job?.latest_workflow.id;
  if (!job || !wf) return;
  const button = byId<HTMLButtonElement>("rerun-ssh");
  button.disabled = true;
  try {
    const r = await fetch(`/api/v2/workflow/${encodeURIComponent(wf)}/rerun`, {
      method: "POST",
      credentials: "same-origin",
      headers: { ...authHeaders(), "content-type": "application/json" },
      body: JSON.stringify({ enable_ssh: true, jobs: [job.id] }),
    });
    const body = (await r.json().catch(() => ({}))) as { workflow_id?: string; message?: string };
    notice(
      r.ok
        ? `Rerunning ${job.name} with SSH in workflow ${body.workflow_id ?? ""}: its Enable SSH step prints the ssh command.`
        : `Rerun with SSH refused: ${body.message ?? `HTTP ${r.status}`}`,
    );
  } finally {
    button.disabled = false;
  }
}

function fmtDuration(ms: number | null | undefined): string {
  if (ms == null || !(ms >= 0)) return "";
  const s = Math.floor(ms / 1000);
  if (s < 60) return `${ms < 10000 ? (ms / 1000).toFixed(1) : String(s)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${s % 60}s`;
  return `${Math.floor(m / 60)}h ${m % 60}m`;
}

function fmtBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u] ?? ""}`;
}

function renderHeader(): void {
  if (!job) return;
  document.title = `${job.name} #${job.number ?? ""} · Drover`;
  byId("crumbs").textContent = [
    job.project.slug,
    job.pipeline_number != null ? `pipeline ${job.pipeline_number}` : null,
    job.latest_workflow.name,
  ]
    .filter(Boolean)
    .join(" / ");
  byId("job-name").textContent = job.name + (job.number != null ? ` #${job.number}` : "");
  const st = byId("job-status");
  st.textContent = job.status.replace(/_/g, " ");
  st.className = `badge ${job.status}`;
  // Offered once the job is over and was not a success, as CircleCI does.
  byId<HTMLButtonElement>("rerun-ssh").hidden =
    !FINAL.has(job.status) || job.status === "success" || !job.latest_workflow.id;
  tickJob();
}

function tickJob(): void {
  if (!job?.started_at) {
    byId("job-duration").textContent = "";
    return;
  }
  const start = Date.parse(job.started_at);
  const end = job.stopped_at ? Date.parse(job.stopped_at) : Date.now();
  byId("job-duration").textContent = `Duration ${fmtDuration(end - start)}`;
}

async function loadJob(): Promise<JobData | null> {
  const r = await fetch(`${root.dataset.dataPath ?? ""}/${encodeURIComponent(jobId)}`, {
    credentials: "same-origin",
    headers: authHeaders(),
  });
  if (r.status === 401) {
    notice(
      "Sign in to see this job: open the page with ?token=<your API token> (kept in this tab only) or log in.",
    );
    return null;
  }
  if (r.status === 404) {
    notice("Job not found, or you may not see it.");
    return null;
  }
  if (!r.ok) {
    notice(`Could not load the job (HTTP ${r.status}).`);
    return null;
  }
  const body = (await r.json()) as JobData;
  job = body.job;
  for (const t of job.steps) taskView(t.task_id, t.index);
  renderHeader();
  return body;
}

let reloadTimer: ReturnType<typeof setTimeout> | null = null;
function reloadSoon(): void {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => {
    reloadTimer = null;
    loadJob().catch(() => {});
  }, 300);
}

// --- rendering -----------------------------------------------------------------------------
const tasks = new Map<string, TaskViewState>();
/** taskId -> highest seq rendered (sent back as "since" on every (re)subscribe). */
const last: Record<string, number> = {};
// Bytes of history per task the first time it is shown (the server sends the tail of its log).
const TAIL_BYTES = win.droverTailBytes ?? 2 * 1024 * 1024;
const tasksEl = byId("tasks");

function taskView(taskId: string, index?: number): TaskViewState {
  let t = tasks.get(taskId);
  if (t) {
    if (index != null && t.index !== index) {
      t.index = index;
      t.h.textContent = `Parallel run ${index}`;
      sortTasks();
    }
    return t;
  }
  const el = document.createElement("div");
  el.className = "task";
  el.dataset.task = taskId;
  const h = document.createElement("h2");
  h.textContent = index != null ? `Parallel run ${index}` : `Task ${taskId.slice(0, 8)}`;
  el.appendChild(h);
  t = {
    id: taskId,
    index: index ?? 1e9,
    el,
    h,
    steps: new Map(),
    current: null,
    caughtUp: false,
    skippedEl: null,
  };
  tasks.set(taskId, t);
  tasksEl.appendChild(el);
  sortTasks();
  return t;
}

function sortTasks(): void {
  const list = [...tasks.values()].sort((a, b) => a.index - b.index);
  for (const t of list) tasksEl.appendChild(t.el);
  tasksEl.classList.toggle("single", list.length === 1);
  for (const t of list) t.h.hidden = list.length === 1;
}

function jobNode(taskId: string): JobNode | undefined {
  return job?.steps.find((x) => x.task_id === taskId);
}

function jobStepName(taskId: string, step: number): string | null {
  return jobNode(taskId)?.steps?.find((x) => x.step === step)?.name ?? null;
}

// Shown above a task's steps when its history starts after its first entry.
function showSkipped(t: TaskViewState, e: LogEntry): void {
  if (!t.skippedEl) {
    t.skippedEl = document.createElement("div");
    t.skippedEl.className = "skipped";
    t.h.after(t.skippedEl);
  }
  t.skippedEl.textContent = `… ${fmtBytes(e.textBytes ?? 0)} of earlier output not shown — `;
  const a = document.createElement("a");
  a.href = "#";
  a.textContent = "load all";
  a.addEventListener("click", (ev) => {
    ev.preventDefault();
    loadAll(t.id);
  });
  t.skippedEl.append(a);
  const outputUrl = jobNode(t.id)?.output_url;
  if (outputUrl) {
    const d = document.createElement("a");
    d.href = "#";
    d.className = "download";
    d.textContent = "download raw";
    d.addEventListener("click", (ev) => {
      ev.preventDefault();
      void downloadRaw(outputUrl);
    });
    t.skippedEl.append(" · ", d);
  }
}

// The node's whole log from the control plane (same origin, this tab's token), saved as a file.
async function downloadRaw(outputUrl: string): Promise<void> {
  const u = new URL(outputUrl, location.href);
  const r = await fetch(`${u.pathname}${u.search}&download=1`, { headers: authHeaders() });
  if (!r.ok) {
    notice(`Download failed: ${r.status}`);
    return;
  }
  const disposition = r.headers.get("content-disposition") ?? "";
  const name = /filename="([^"]+)"/.exec(disposition)?.[1] ?? "output.log";
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await r.blob());
  a.download = name;
  document.body.append(a);
  a.click();
  setTimeout(() => {
    URL.revokeObjectURL(a.href);
    a.remove();
  }, 10000);
}

const ICON: Record<string, string> = {
  running: "●",
  success: "✓",
  failed: "✗",
  timedout: "⏱",
  canceled: "⊘",
  skipped: "–",
};

function span(className: string, text = ""): HTMLSpanElement {
  const el = document.createElement("span");
  el.className = className;
  el.textContent = text;
  return el;
}

function stepView(
  t: TaskViewState,
  step: number,
  given: string | null,
  ts: number | null,
): StepViewState {
  let s = t.steps.get(step);
  if (s) {
    if (given && s.name !== given) {
      s.name = given;
      s.nameEl.textContent = given;
    }
    return s;
  }
  // History that starts after a step's header: its name comes from the job.
  const name = given ?? jobStepName(t.id, step);
  const d = document.createElement("details");
  d.className = "step running";
  d.open = true;
  d.dataset.step = String(step);
  const sum = document.createElement("summary");
  const icon = span("icon", ICON.running);
  const nameEl = span("name", name ?? `Step ${step}`);
  const exit = span("exit");
  const dur = span("duration");
  sum.append(icon, nameEl, exit, dur);
  const log = document.createElement("div");
  log.className = "log";
  d.append(sum, log);
  s = {
    step,
    name,
    el: d,
    icon,
    nameEl,
    exit,
    dur,
    log,
    line: null,
    cr: false,
    n: 0,
    count: 0,
    hidden: 0,
    hiddenEl: null,
    started: ts,
    finished: null,
    status: "running",
    ansi: createAnsiRenderer(),
  };
  t.steps.set(step, s);
  // Keep steps in order even when history starts mid-job.
  const after = [...t.steps.values()]
    .filter((x) => x.step > step)
    .sort((a, b) => a.step - b.step)[0];
  t.el.insertBefore(d, after ? after.el : null);
  return s;
}

// Lines kept per step in the page (the store keeps them all): past it the oldest go, in tenths.
const MAX_LINES = win.droverMaxLines || 20000;

function newLine(s: StepViewState, cls: string): HTMLElement {
  const div = document.createElement("div");
  div.className = `line${cls ? ` ${cls}` : ""}`;
  if (cls !== "dropped") div.dataset.n = String(++s.n);
  s.log.appendChild(div);
  s.line = div;
  if (++s.count > MAX_LINES) trimLines(s);
  return div;
}

function trimLines(s: StepViewState): void {
  if (!s.hiddenEl) {
    s.hiddenEl = document.createElement("div");
    s.hiddenEl.className = "line dropped";
    s.log.insertBefore(s.hiddenEl, s.log.firstChild);
  }
  for (let i = Math.ceil(MAX_LINES / 10); i > 0; i--) {
    const first = s.hiddenEl.nextSibling;
    if (!first || first === s.line) break;
    first.remove();
    s.hidden++;
    s.count--;
  }
  s.hiddenEl.textContent = `… ${s.hidden} earlier lines of this step are not shown here …`;
}

// A line is created by its first character or its newline, so output ending in "\n" leaves no
// empty last line; "\r" alone redraws the line (progress bars).
function endLine(s: StepViewState, stream: string | undefined): void {
  if (!s.line) newLine(s, stream === "err" ? "err" : "");
  s.line = null;
}

function appendText(s: StepViewState, stream: string | undefined, data: string): void {
  let text = data;
  if (s.cr) {
    s.cr = false;
    if (text.startsWith("\n")) {
      text = text.slice(1);
      endLine(s, stream);
    } else if (s.line) s.line.textContent = "";
  }
  const parts = text.split(/(\r\n|\n|\r)/);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i] ?? "";
    if (i % 2 === 1) {
      if (p !== "\r") endLine(s, stream);
      else if (i === parts.length - 2 && parts[i + 1] === "")
        s.cr = true; // maybe a CRLF split across frames
      else if (s.line) s.line.textContent = "";
      continue;
    }
    if (!p) continue;
    const line = s.line ?? newLine(s, stream === "err" ? "err" : "");
    line.insertAdjacentHTML("beforeend", s.ansi.push(p));
  }
}

function finishStep(
  s: StepViewState,
  e: { status?: string; exitCode?: number | null; ts: number },
): void {
  s.status = e.status ?? (e.exitCode === 0 ? "success" : "failed");
  s.finished = e.ts;
  s.el.className = `step ${s.status}`;
  s.icon.textContent = ICON[s.status] ?? "•";
  s.exit.textContent = e.exitCode != null && e.exitCode !== 0 ? `exit ${e.exitCode}` : "";
  s.dur.textContent = s.started != null ? fmtDuration(e.ts - s.started) : "";
  // Steps that succeeded before the page opened start collapsed; live ones stay as the user left them.
  if (s.status === "success" && e.ts < openedAt) s.el.open = false;
  s.line = null;
}

function render(taskId: string, e: LogEntry): void {
  const t = taskView(taskId);
  switch (e.kind) {
    case "step_started": {
      const s = stepView(t, e.step ?? 0, e.name ?? null, e.ts);
      s.started = e.ts;
      s.ansi.reset();
      t.current = s;
      break;
    }
    case "output": {
      const s = stepView(t, e.step ?? 0, null, null);
      appendText(s, e.stream, e.data ?? "");
      t.current = s;
      break;
    }
    case "step_finished": {
      const s = stepView(t, e.step ?? 0, null, null);
      if (e.tail) appendText(s, "out", e.tail);
      finishStep(s, e);
      break;
    }
    case "task_finished":
      for (const s of t.steps.values())
        if (s.status === "running") finishStep(s, { status: "canceled", ts: e.ts });
      reloadSoon();
      break;
    case "skipped":
      showSkipped(t, e);
      break;
    case "dropped": {
      const s = t.current ?? stepView(t, 0, "Output", e.ts);
      newLine(s, "dropped").textContent =
        `… ${fmtBytes(e.textBytes ?? 0)} of output dropped here (the log passed its size limit; the tail is kept) …`;
      s.line = null;
      break;
    }
  }
}

// --- follow-tail -----------------------------------------------------------------------------
let following = true;
const followBtn = byId<HTMLButtonElement>("follow");
const atBottom = (): boolean =>
  window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 40;
window.addEventListener(
  "scroll",
  () => {
    following = atBottom();
    followBtn.hidden = following;
  },
  { passive: true },
);
byId<HTMLButtonElement>("rerun-ssh").addEventListener("click", () => {
  rerunWithSsh().catch((err: unknown) => notice(`Rerun with SSH failed: ${String(err)}`));
});
followBtn.addEventListener("click", () => {
  following = true;
  followBtn.hidden = true;
  scrollToEnd();
});
function scrollToEnd(): void {
  window.scrollTo(0, document.documentElement.scrollHeight);
}

// Entries arrive in events; render them in one animation frame per burst.
const queue: [string, LogEntry[]][] = [];
let scheduled = false;
function enqueue(task: string, entries: LogEntry[]): void {
  queue.push([task, entries]);
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(flush);
  }
}

function flush(): void {
  scheduled = false;
  const wasFollowing = following;
  let newTask = false;
  for (const [task, entries] of queue.splice(0)) {
    if (!tasks.has(task)) newTask = true;
    for (const e of entries) {
      const seq = e.kind === "dropped" || e.kind === "skipped" ? (e.toSeq ?? e.seq) : e.seq;
      if (seq <= (last[task] ?? 0)) continue; // seen already (a resubscription replays from "since")
      render(task, e);
      last[task] = seq;
    }
  }
  byId("waiting").hidden = tasks.size > 0 && [...tasks.values()].some((t) => t.steps.size > 0);
  if (newTask) reloadSoon();
  if (wasFollowing) scrollToEnd();
}

setInterval(() => {
  const now = Date.now();
  for (const t of tasks.values())
    for (const s of t.steps.values())
      if (s.status === "running" && s.started != null)
        s.dur.textContent = fmtDuration(now - s.started);
  if (job && !job.stopped_at) tickJob();
}, 1000);

// --- live connection ---------------------------------------------------------------------------
let livePusher: PusherClass | null = null;
let jobChannel: Channel | null = null;

async function authorize(
  socketId: string,
  channelName: string,
  cb: ChannelAuthorizationCallback,
): Promise<void> {
  try {
    const r = await fetch("/api/pusher/auth", {
      method: "POST",
      credentials: "same-origin",
      headers: authHeaders(),
      body: new URLSearchParams({ socket_id: socketId, channel_name: channelName }),
    });
    if (!r.ok) {
      cb(new Error(`channel authorization failed: HTTP ${r.status}`), null);
      return;
    }
    const { auth } = (await r.json()) as { auth: string };
    // The history cursor: the server replays each task after its last seq shown here, and
    // only the tail of tasks not shown yet.
    cb(null, { auth, channel_data: JSON.stringify({ since: last, tail: TAIL_BYTES }) });
  } catch (err) {
    cb(err instanceof Error ? err : new Error(String(err)), null);
  }
}

function connect(cfg: PusherSettings): void {
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
      customHandler: ({ socketId, channelName }, cb) => void authorize(socketId, channelName, cb),
    },
  });
  const conn = byId("conn-state");
  pusher.connection.bind("state_change", ({ current }: { current: string }) => {
    conn.textContent = current === "connected" ? "live" : current;
    conn.className = `conn ${current}`;
  });
  livePusher = pusher;
  subscribeJob();
  const projectId = job?.project.id;
  if (projectId) {
    pusher
      .subscribe(`private-project-${projectId}`)
      .bind("status", (m: { jobId?: string; kind?: string } | null) => {
        if (m?.jobId === jobId && m.kind === "task_finished") reloadSoon();
      });
  }
  win.droverPage = {
    pusher,
    last,
    loadAll,
    get following() {
      return following;
    },
  };
}

function subscribeJob(): void {
  if (!livePusher) return;
  const ch = livePusher.subscribe(`private-job-${jobId}`);
  jobChannel = ch;
  // Events reach this channel object only once it is subscribed: after a resubscription (load
  // all) the old subscription's last events, still in flight, are not taken for the new one's.
  let ready = false;
  ch.bind("log", ({ task, entries }: { task: string; entries: LogEntry[] }) => {
    if (ready) enqueue(task, entries);
  });
  ch.bind("caught-up", ({ task }: { task: string }) => {
    if (ready) taskView(task).caughtUp = true;
  });
  ch.bind("pusher:subscription_error", (err: { error?: string } | null) =>
    notice(`Live output unavailable: ${err?.error ?? "not authorized"}.`),
  );
  ch.bind("pusher:subscription_succeeded", () => {
    ready = true;
    notice("");
  });
}

// The whole history of one task: clear its steps and resubscribe with since 0 for it.
function loadAll(taskId: string): boolean {
  const t = tasks.get(taskId);
  if (!t || !livePusher || !jobChannel?.subscribed) return false;
  for (const s of t.steps.values()) s.el.remove();
  t.steps.clear();
  t.current = null;
  if (t.skippedEl) {
    t.skippedEl.remove();
    t.skippedEl = null;
  }
  for (let i = queue.length - 1; i >= 0; i--) if (queue[i]?.[0] === taskId) queue.splice(i, 1);
  last[taskId] = 0;
  livePusher.unsubscribe(`private-job-${jobId}`);
  subscribeJob();
  return true;
}

loadJob()
  .then((body) => {
    if (!body) return;
    connect(body.pusher);
    if (job?.number != null) void mountJobTabs(job.project.slug, job.number).catch(() => {});
    // Status the log cannot show (queued, canceled before start): poll slowly until final.
    const poll = setInterval(() => {
      if (job && FINAL.has(job.status)) clearInterval(poll);
      else loadJob().catch(() => {});
    }, 10000);
  })
  .catch((err: unknown) =>
    notice(`Could not load the job: ${err instanceof Error ? err.message : String(err)}`),
  );
