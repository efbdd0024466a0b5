/**
 * The job page: an HTML shell, its stylesheet and its script, as strings (no bundler). The script
 * loads the job from `GET /web/v1/jobs/{id}`, subscribes to `private-job-<id>` with pusher-js
 * (history first, then live; deduped by seq per task) and renders steps as collapsible sections.
 * History starts at the tail of each task's log (`tail` in channel_data, 2 MiB by default); a task
 * whose history starts later says how much is not shown and offers to load all of it, which
 * resubscribes with `since: {task: 0}`.
 */
import { createAnsiRenderer } from "./ansi.js";

export const STATIC_PREFIX = "/static/web";
export const PUSHER_JS_PATH = `${STATIC_PREFIX}/pusher.min.js`;
export const JOB_PAGE_JS_PATH = `${STATIC_PREFIX}/job-page.js`;
export const JOB_PAGE_CSS_PATH = `${STATIC_PREFIX}/job-page.css`;
export const JOB_DATA_PATH = "/web/v1/jobs";

const escapeAttr = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** The page shell; everything else is filled in by the script. */
export function renderJobPage(jobId: string): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Job · Drover</title>
<link rel="stylesheet" href="${JOB_PAGE_CSS_PATH}">
</head>
<body>
<main id="drover-job" data-job-id="${escapeAttr(jobId)}" data-data-path="${JOB_DATA_PATH}">
  <header class="job-header">
    <div class="crumbs" id="crumbs">Drover</div>
    <h1><span id="job-name">Loading job…</span> <span id="job-status" class="badge">…</span></h1>
    <div class="meta"><span id="job-duration"></span> <span id="conn-state" class="conn">connecting</span></div>
  </header>
  <div id="notice" class="notice" hidden></div>
  <section id="tasks" class="tasks" aria-live="off"></section>
  <p id="waiting" class="waiting">Waiting for output…</p>
  <button id="follow" class="follow" type="button" hidden>Follow output ↓</button>
</main>
<script src="${PUSHER_JS_PATH}"></script>
<script src="${JOB_PAGE_JS_PATH}"></script>
</body>
</html>
`;
}

// Solarized-ish 16 colours readable on a dark background.
const COLOURS = [
  "#3b3b3b",
  "#e06c75",
  "#98c379",
  "#e5c07b",
  "#61afef",
  "#c678dd",
  "#56b6c2",
  "#d0d0d0",
  "#7f848e",
  "#ff7b86",
  "#b5e890",
  "#ffd68a",
  "#82c4ff",
  "#e29cf5",
  "#7ee0ea",
  "#ffffff",
];

export const JOB_PAGE_CSS = `
:root { color-scheme: dark; --bg: #16181d; --panel: #1e2128; --line: #2a2e37; --fg: #d0d4dc;
  --muted: #8a91a0; --ok: #3fb950; --bad: #f85149; --run: #58a6ff; --hold: #d29922; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; }
main { max-width: 1200px; margin: 0 auto; padding: 16px 20px 80px; }
.job-header { border-bottom: 1px solid var(--line); padding-bottom: 12px; margin-bottom: 12px; }
.crumbs { color: var(--muted); font-size: 13px; }
h1 { font-size: 20px; margin: 4px 0; display: flex; align-items: center; gap: 10px; }
.meta { color: var(--muted); font-size: 13px; display: flex; gap: 16px; }
.badge { font-size: 12px; font-weight: 600; text-transform: uppercase; padding: 2px 8px;
  border-radius: 10px; background: var(--line); color: var(--fg); }
.badge.success { background: #173d22; color: var(--ok); }
.badge.failed, .badge.infrastructure_fail, .badge.timedout, .badge.unauthorized { background: #4a1d1d; color: var(--bad); }
.badge.running, .badge.queued { background: #13304f; color: var(--run); }
.badge.canceled, .badge.on_hold, .badge.blocked, .badge.not_run { background: #3a2f12; color: var(--hold); }
.conn::before { content: "● "; }
.conn.connected { color: var(--ok); }
.conn.connecting, .conn.unavailable { color: var(--hold); }
.conn.failed, .conn.disconnected { color: var(--bad); }
.notice { background: #4a1d1d; color: #ffd7d5; padding: 10px 12px; border-radius: 6px; margin: 8px 0; }
.waiting { color: var(--muted); }
.task > h2 { font-size: 14px; color: var(--muted); margin: 18px 0 6px; font-weight: 600; }
details.step { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; margin: 6px 0; }
details.step > summary { cursor: pointer; padding: 7px 10px; display: flex; gap: 10px;
  align-items: center; list-style: none; user-select: none; }
details.step > summary::-webkit-details-marker { display: none; }
details.step > summary::before { content: "▸"; color: var(--muted); width: 10px; }
details.step[open] > summary::before { content: "▾"; }
.step .icon { width: 16px; text-align: center; font-weight: 700; }
.step.running .icon { color: var(--run); }
.step.success .icon { color: var(--ok); }
.step.failed .icon, .step.timedout .icon, .step.canceled .icon { color: var(--bad); }
.step .name { flex: 1; font-weight: 500; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
.step .duration, .step .exit { color: var(--muted); font-size: 12px; font-variant-numeric: tabular-nums; }
.log { margin: 0; padding: 6px 0 8px; border-top: 1px solid var(--line); overflow-x: auto;
  font: 12.5px/1.5 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;  }
.log .line { white-space: pre-wrap; word-break: break-all; padding: 0 12px 0 56px; position: relative; min-height: 1.5em; }
.log .line::before { content: attr(data-n); position: absolute; left: 0;
  width: 44px; text-align: right; color: #555c69; user-select: none; }
.log .line:hover { background: #23272f; }
.log .line.err { background: rgba(248, 81, 73, 0.06); }
.log .line.dropped { color: var(--hold); font-style: italic; }
.skipped { color: var(--hold); font-style: italic; font-size: 13px; margin: 6px 0; }
.skipped a { color: var(--run); cursor: pointer; }
.follow { position: fixed; right: 24px; bottom: 24px; background: var(--run); color: #0b1320;
  border: 0; border-radius: 16px; padding: 8px 14px; font-weight: 600; cursor: pointer; }
.ansi-bold { font-weight: 700; } .ansi-dim { opacity: 0.7; } .ansi-italic { font-style: italic; }
.ansi-underline { text-decoration: underline; }
.ansi-inv-fg { color: var(--bg); } .ansi-inv-bg { background-color: var(--fg); }
${COLOURS.map((c, i) => `.ansi-fg-${i} { color: ${c}; } .ansi-bg-${i} { background-color: ${c}; }`).join("\n")}
`;

/** The page script: the ANSI renderer's own source, then the page logic. */
export function jobPageScript(): string {
  return `"use strict";
(() => {
const createAnsiRenderer = ${createAnsiRenderer.toString()};
${PAGE_LOGIC}
})();
`;
}

// Plain browser JavaScript (no build step); runs inside the IIFE above.
const PAGE_LOGIC = String.raw`
const root = document.getElementById("drover-job");
const jobId = root.dataset.jobId;
const openedAt = Date.now();
const $ = (id) => document.getElementById(id);

// Auth: an API token from ?token= or #token= on the first load, kept in this tab's
// sessionStorage and removed from the address bar; otherwise the session cookie.
const TOKEN_KEY = "drover.token";
let token = null;
{
  const q = new URLSearchParams(location.search);
  const h = new URLSearchParams(location.hash.slice(1));
  const given = q.get("token") || h.get("token");
  if (given) {
    token = given;
    try { sessionStorage.setItem(TOKEN_KEY, given); } catch (_) { /* storage disabled */ }
    q.delete("token");
    h.delete("token");
    const qs = q.toString(), hs = h.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : "") + (hs ? "#" + hs : ""));
  } else {
    try { token = sessionStorage.getItem(TOKEN_KEY); } catch (_) { token = null; }
  }
}
const authHeaders = () => (token ? { authorization: "Bearer " + token } : {});

function notice(text) {
  const n = $("notice");
  n.textContent = text;
  n.hidden = !text;
}

const FINAL = new Set(["success", "failed", "canceled", "infrastructure_fail", "timedout", "unauthorized", "not_run"]);
let job = null;

function fmtDuration(ms) {
  if (ms == null || !(ms >= 0)) return "";
  const s = Math.floor(ms / 1000);
  if (s < 60) return (ms < 10000 ? (ms / 1000).toFixed(1) : String(s)) + "s";
  const m = Math.floor(s / 60);
  if (m < 60) return m + "m " + (s % 60) + "s";
  return Math.floor(m / 60) + "h " + (m % 60) + "m";
}

function fmtBytes(n) {
  if (n < 1024) return n + " bytes";
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024, u = 0;
  while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
  return v.toFixed(v < 10 ? 1 : 0) + " " + units[u];
}

function renderHeader() {
  if (!job) return;
  document.title = job.name + " #" + (job.number ?? "") + " · Drover";
  $("crumbs").textContent = [job.project.slug, job.pipeline_number != null ? "pipeline " + job.pipeline_number : null, job.latest_workflow.name]
    .filter(Boolean).join(" / ");
  $("job-name").textContent = job.name + (job.number != null ? " #" + job.number : "");
  const st = $("job-status");
  st.textContent = job.status.replace(/_/g, " ");
  st.className = "badge " + job.status;
  tickJob();
}
function tickJob() {
  if (!job || !job.started_at) { $("job-duration").textContent = ""; return; }
  const start = Date.parse(job.started_at);
  const end = job.stopped_at ? Date.parse(job.stopped_at) : Date.now();
  $("job-duration").textContent = "Duration " + fmtDuration(end - start);
}

async function loadJob() {
  const r = await fetch(root.dataset.dataPath + "/" + encodeURIComponent(jobId), {
    credentials: "same-origin", headers: authHeaders(),
  });
  if (r.status === 401) {
    notice("Sign in to see this job: open the page with ?token=<your API token> (kept in this tab only) or log in.");
    return null;
  }
  if (r.status === 404) { notice("Job not found, or you may not see it."); return null; }
  if (!r.ok) { notice("Could not load the job (HTTP " + r.status + ")."); return null; }
  const body = await r.json();
  job = body.job;
  for (const t of job.steps) taskView(t.task_id, t.index);
  renderHeader();
  return body;
}
let reloadTimer = null;
function reloadSoon() {
  if (reloadTimer) return;
  reloadTimer = setTimeout(() => { reloadTimer = null; loadJob().catch(() => {}); }, 300);
}

// --- rendering -----------------------------------------------------------------------------
const tasks = new Map(); // taskId -> view
const last = {}; // taskId -> highest seq rendered (sent back as "since" on every (re)subscribe)
// Bytes of history per task the first time it is shown (the server sends the tail of its log).
const TAIL_BYTES = window.droverTailBytes ?? 2 * 1024 * 1024;
const tasksEl = $("tasks");

function taskView(taskId, index) {
  let t = tasks.get(taskId);
  if (t) {
    if (index != null && t.index !== index) { t.index = index; t.h.textContent = "Parallel run " + index; sortTasks(); }
    return t;
  }
  const el = document.createElement("div");
  el.className = "task";
  el.dataset.task = taskId;
  const h = document.createElement("h2");
  h.textContent = index != null ? "Parallel run " + index : "Task " + taskId.slice(0, 8);
  el.appendChild(h);
  t = { id: taskId, index: index ?? 1e9, el, h, steps: new Map(), current: null, caughtUp: false, skippedEl: null };
  tasks.set(taskId, t);
  tasksEl.appendChild(el);
  sortTasks();
  return t;
}
function sortTasks() {
  const list = [...tasks.values()].sort((a, b) => a.index - b.index);
  for (const t of list) tasksEl.appendChild(t.el);
  tasksEl.classList.toggle("single", list.length === 1);
  for (const t of list) t.h.hidden = list.length === 1;
}

function jobStepName(taskId, step) {
  const node = job && job.steps ? job.steps.find((x) => x.task_id === taskId) : null;
  const s = node && node.steps ? node.steps.find((x) => x.step === step) : null;
  return s ? s.name : null;
}
// Shown above a task's steps when its history starts after its first entry.
function showSkipped(t, e) {
  if (!t.skippedEl) {
    t.skippedEl = document.createElement("div");
    t.skippedEl.className = "skipped";
    t.h.after(t.skippedEl);
  }
  t.skippedEl.textContent = "… " + fmtBytes(e.textBytes) + " of earlier output not shown — ";
  const a = document.createElement("a");
  a.href = "#";
  a.textContent = "load all";
  a.addEventListener("click", (ev) => { ev.preventDefault(); loadAll(t.id); });
  t.skippedEl.append(a);
  const node = job && job.steps ? job.steps.find((x) => x.task_id === t.id) : null;
  if (node && node.output_url) {
    const d = document.createElement("a");
    d.href = "#";
    d.className = "download";
    d.textContent = "download raw";
    d.addEventListener("click", (ev) => { ev.preventDefault(); void downloadRaw(node.output_url); });
    t.skippedEl.append(" · ", d);
  }
}
// The node's whole log from the control plane (same origin, this tab's token), saved as a file.
async function downloadRaw(outputUrl) {
  const u = new URL(outputUrl, location.href);
  const r = await fetch(u.pathname + u.search + "&download=1", { headers: authHeaders() });
  if (!r.ok) { notice("Download failed: " + r.status); return; }
  const name = (/filename="([^"]+)"/.exec(r.headers.get("content-disposition") || "") || [])[1] || "output.log";
  const a = document.createElement("a");
  a.href = URL.createObjectURL(await r.blob());
  a.download = name;
  document.body.append(a);
  a.click();
  setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 10000);
}

const ICON = { running: "●", success: "✓", failed: "✗", timedout: "⏱", canceled: "⊘", skipped: "–" };
function stepView(t, step, name, ts) {
  let s = t.steps.get(step);
  if (s) {
    if (name && s.name !== name) { s.name = name; s.nameEl.textContent = name; }
    return s;
  }
  // History that starts after a step's header: its name comes from the job.
  if (!name) name = jobStepName(t.id, step);
  const d = document.createElement("details");
  d.className = "step running";
  d.open = true;
  d.dataset.step = String(step);
  const sum = document.createElement("summary");
  const icon = document.createElement("span"); icon.className = "icon"; icon.textContent = ICON.running;
  const nameEl = document.createElement("span"); nameEl.className = "name"; nameEl.textContent = name || "Step " + step;
  const exit = document.createElement("span"); exit.className = "exit";
  const dur = document.createElement("span"); dur.className = "duration";
  sum.append(icon, nameEl, exit, dur);
  const log = document.createElement("div"); log.className = "log";
  d.append(sum, log);
  s = { step, name, el: d, icon, nameEl, exit, dur, log, line: null, cr: false, n: 0, count: 0, hidden: 0, hiddenEl: null, started: ts ?? null, finished: null,
    status: "running", ansi: createAnsiRenderer() };
  t.steps.set(step, s);
  // Keep steps in order even when history starts mid-job.
  const after = [...t.steps.values()].filter((x) => x.step > step).sort((a, b) => a.step - b.step)[0];
  t.el.insertBefore(d, after ? after.el : null);
  return s;
}
// Lines kept per step in the page (the store keeps them all): past it the oldest go, in tenths.
const MAX_LINES = window.droverMaxLines || 20000;
function newLine(s, cls) {
  const div = document.createElement("div");
  div.className = "line" + (cls ? " " + cls : "");
  if (cls !== "dropped") div.dataset.n = String(++s.n);
  s.log.appendChild(div);
  s.line = div;
  if (++s.count > MAX_LINES) trimLines(s);
  return div;
}
function trimLines(s) {
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
  s.hiddenEl.textContent = "… " + s.hidden + " earlier lines of this step are not shown here …";
}
// A line is created by its first character or its newline, so output ending in "\n" leaves no
// empty last line; "\r" alone redraws the line (progress bars).
function endLine(s, stream) {
  if (!s.line) newLine(s, stream === "err" ? "err" : "");
  s.line = null;
}
function appendText(s, stream, data) {
  let text = data;
  if (s.cr) {
    s.cr = false;
    if (text.startsWith("\n")) { text = text.slice(1); endLine(s, stream); }
    else if (s.line) s.line.textContent = "";
  }
  const parts = text.split(/(\r\n|\n|\r)/);
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i];
    if (i % 2 === 1) {
      if (p !== "\r") endLine(s, stream);
      else if (i === parts.length - 2 && parts[i + 1] === "") s.cr = true; // maybe a CRLF split across frames
      else if (s.line) s.line.textContent = "";
      continue;
    }
    if (!p) continue;
    const line = s.line || newLine(s, stream === "err" ? "err" : "");
    line.insertAdjacentHTML("beforeend", s.ansi.push(p));
  }
}
function finishStep(t, s, e) {
  s.status = e.status || (e.exitCode === 0 ? "success" : "failed");
  s.finished = e.ts;
  s.el.className = "step " + s.status;
  s.icon.textContent = ICON[s.status] || "•";
  s.exit.textContent = e.exitCode != null && e.exitCode !== 0 ? "exit " + e.exitCode : "";
  s.dur.textContent = s.started != null ? fmtDuration(e.ts - s.started) : "";
  // Steps that succeeded before the page opened start collapsed; live ones stay as the user left them.
  if (s.status === "success" && e.ts < openedAt) s.el.open = false;
  s.line = null;
}

function render(taskId, e) {
  const t = taskView(taskId);
  switch (e.kind) {
    case "step_started": {
      const s = stepView(t, e.step, e.name, e.ts);
      s.started = e.ts;
      s.ansi.reset();
      t.current = s;
      break;
    }
    case "output": {
      const s = stepView(t, e.step, null, null);
      appendText(s, e.stream, e.data);
      t.current = s;
      break;
    }
    case "step_finished": {
      const s = stepView(t, e.step, null, null);
      if (e.tail) appendText(s, "out", e.tail);
      finishStep(t, s, e);
      break;
    }
    case "task_finished":
      for (const s of t.steps.values()) if (s.status === "running") finishStep(t, s, { status: "canceled", ts: e.ts });
      reloadSoon();
      break;
    case "skipped":
      showSkipped(t, e);
      break;
    case "dropped": {
      const s = t.current || stepView(t, 0, "Output", e.ts);
      newLine(s, "dropped").textContent =
        "… " + fmtBytes(e.textBytes) + " of output dropped here (the log passed its size limit; the tail is kept) …";
      s.line = null;
      break;
    }
  }
}

// --- follow-tail -----------------------------------------------------------------------------
let following = true;
const followBtn = $("follow");
const atBottom = () => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 40;
window.addEventListener("scroll", () => { following = atBottom(); followBtn.hidden = following; }, { passive: true });
followBtn.addEventListener("click", () => { following = true; followBtn.hidden = true; scrollToEnd(); });
function scrollToEnd() { window.scrollTo(0, document.documentElement.scrollHeight); }

// Entries arrive in events; render them in one animation frame per burst.
const queue = [];
let scheduled = false;
function enqueue(task, entries) {
  queue.push([task, entries]);
  if (!scheduled) { scheduled = true; requestAnimationFrame(flush); }
}
function flush() {
  scheduled = false;
  const wasFollowing = following;
  let newTask = false;
  for (const [task, entries] of queue.splice(0)) {
    if (!tasks.has(task)) newTask = true;
    for (const e of entries) {
      const seq = e.kind === "dropped" || e.kind === "skipped" ? e.toSeq : e.seq;
      if (seq <= (last[task] || 0)) continue; // seen already (a resubscription replays from "since")
      render(task, e);
      last[task] = seq;
    }
  }
  $("waiting").hidden = tasks.size > 0 && [...tasks.values()].some((t) => t.steps.size > 0);
  if (newTask) reloadSoon();
  if (wasFollowing) scrollToEnd();
}

setInterval(() => {
  const now = Date.now();
  for (const t of tasks.values())
    for (const s of t.steps.values())
      if (s.status === "running" && s.started != null) s.dur.textContent = fmtDuration(now - s.started);
  if (job && !job.stopped_at) tickJob();
}, 1000);

// --- live connection ---------------------------------------------------------------------------
function connect(cfg) {
  const pusher = new Pusher(cfg.key, {
    cluster: "drover",
    wsHost: cfg.wsHost || location.hostname,
    wsPort: cfg.wsPort,
    wssPort: cfg.wsPort,
    forceTLS: cfg.forceTLS,
    enabledTransports: ["ws", "wss"],
    channelAuthorization: {
      customHandler: async ({ socketId, channelName }, cb) => {
        try {
          const r = await fetch("/api/pusher/auth", {
            method: "POST",
            credentials: "same-origin",
            headers: authHeaders(),
            body: new URLSearchParams({ socket_id: socketId, channel_name: channelName }),
          });
          if (!r.ok) return cb(new Error("channel authorization failed: HTTP " + r.status), null);
          const { auth } = await r.json();
          // The history cursor: the server replays each task after its last seq shown here, and
          // only the tail of tasks not shown yet.
          cb(null, { auth, channel_data: JSON.stringify({ since: last, tail: TAIL_BYTES }) });
        } catch (err) {
          cb(err instanceof Error ? err : new Error(String(err)), null);
        }
      },
    },
  });
  const conn = $("conn-state");
  pusher.connection.bind("state_change", ({ current }) => {
    conn.textContent = current === "connected" ? "live" : current;
    conn.className = "conn " + current;
  });
  livePusher = pusher;
  subscribeJob();
  if (job && job.project && job.project.id) {
    pusher.subscribe("private-project-" + job.project.id).bind("status", (m) => {
      if (m && m.jobId === jobId && m.kind === "task_finished") reloadSoon();
    });
  }
  window.droverPage = { pusher, last, loadAll, get following() { return following; } };
}

let livePusher = null;
let jobChannel = null;
function subscribeJob() {
  const ch = livePusher.subscribe("private-job-" + jobId);
  jobChannel = ch;
  // Events reach this channel object only once it is subscribed: after a resubscription (load
  // all) the old subscription's last events, still in flight, are not taken for the new one's.
  let ready = false;
  ch.bind("log", ({ task, entries }) => { if (ready) enqueue(task, entries); });
  ch.bind("caught-up", ({ task }) => { if (ready) taskView(task).caughtUp = true; });
  ch.bind("pusher:subscription_error", (err) => notice("Live output unavailable: " + ((err && err.error) || "not authorized") + "."));
  ch.bind("pusher:subscription_succeeded", () => { ready = true; notice(""); });
}

// The whole history of one task: clear its steps and resubscribe with since 0 for it.
function loadAll(taskId) {
  const t = tasks.get(taskId);
  if (!t || !livePusher || !jobChannel || !jobChannel.subscribed) return false;
  for (const s of t.steps.values()) s.el.remove();
  t.steps.clear();
  t.current = null;
  if (t.skippedEl) { t.skippedEl.remove(); t.skippedEl = null; }
  for (let i = queue.length - 1; i >= 0; i--) if (queue[i][0] === taskId) queue.splice(i, 1);
  last[taskId] = 0;
  livePusher.unsubscribe("private-job-" + jobId);
  subscribeJob();
  return true;
}

loadJob()
  .then((body) => {
    if (!body) return;
    connect(body.pusher);
    // Status the log cannot show (queued, canceled before start): poll slowly until final.
    const poll = setInterval(() => {
      if (job && FINAL.has(job.status)) clearInterval(poll);
      else loadJob().catch(() => {});
    }, 10000);
  })
  .catch((err) => notice("Could not load the job: " + err.message));
`;
