/**
 * What every page shares: the API client (session cookie, or an API token given once as
 * `?token=`/`#token=` and kept in this tab's sessionStorage), small DOM helpers and the error
 * pages (not found, not allowed, server unreachable).
 */

const TOKEN_KEY = "drover.token";

/** Takes a token off the address bar into sessionStorage; returns the token in use, if any. */
export function takeToken(): string | null {
  const q = new URLSearchParams(location.search);
  const h = new URLSearchParams(location.hash.slice(1));
  const given = q.get("token") || h.get("token");
  if (given) {
    try {
      sessionStorage.setItem(TOKEN_KEY, given);
    } catch {
      // storage disabled: the token lives for this page only
    }
    q.delete("token");
    h.delete("token");
    const qs = q.toString();
    const hs = h.toString();
    history.replaceState(null, "", location.pathname + (qs ? `?${qs}` : "") + (hs ? `#${hs}` : ""));
    return given;
  }
  try {
    return sessionStorage.getItem(TOKEN_KEY);
  } catch {
    return null;
  }
}

let token: string | null = null;
let tokenRead = false;

/** Forgets the tab's API token (sign out). */
export function forgetToken(): void {
  token = null;
  try {
    sessionStorage.removeItem(TOKEN_KEY);
  } catch {
    // nothing stored
  }
}

/** An API answer that was not 2xx, or no answer at all (`status` 0). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly code: string | null,
  ) {
    super(message);
  }
}

/** The `Authorization` header of the tab's API token, if it has one (else the cookie serves). */
export function authHeaders(): Record<string, string> {
  if (!tokenRead) {
    token = takeToken();
    tokenRead = true;
  }
  return token ? { authorization: `Bearer ${token}` } : {};
}

/** Calls the control plane's API; JSON in and out; throws `ApiError`. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const headers: Record<string, string> = { accept: "application/json", ...authHeaders() };
  if (body !== undefined) headers["content-type"] = "application/json";
  let res: Response;
  try {
    res = await fetch(path, {
      method,
      headers,
      credentials: "same-origin",
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
  } catch {
    throw new ApiError(0, "The server cannot be reached.", null);
  }
  const text = await res.text();
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : null;
  } catch {
    data = null;
  }
  if (!res.ok) {
    const d = (data ?? {}) as { message?: unknown; code?: unknown };
    throw new ApiError(
      res.status,
      typeof d.message === "string" ? d.message : `HTTP ${res.status}`,
      typeof d.code === "string" ? d.code : null,
    );
  }
  return data as T;
}

type Child = Node | string | null | undefined | false;

/** Builds an element: `h("a", { href: "/x" }, "text")`. Strings become text, never HTML. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | boolean | ((ev: Event) => void)> = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (typeof v === "function") el.addEventListener(k.replace(/^on/, ""), v);
    else if (v === true) el.setAttribute(k, "");
    else if (v !== false) el.setAttribute(k, v);
  }
  for (const c of children) {
    if (c === null || c === undefined || c === false) continue;
    el.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return el;
}

/** The page's main element, emptied and filled with `children`. */
export function render(...children: Child[]): HTMLElement {
  const main = document.getElementById("drover-app");
  if (!main) throw new Error("no #drover-app");
  main.replaceChildren();
  for (const c of children) if (c) main.append(c);
  return main;
}

/** A status badge (`success`, `failed`, `running`, …). */
export function badge(status: string): HTMLElement {
  return h("span", { class: `badge s-${status.replace(/[^a-z_]/g, "")}` }, status);
}

/** "3 min ago" style time, with the full time as a tooltip. */
export function when(iso: string | null | undefined): HTMLElement {
  if (!iso) return h("span", {}, "—");
  const t = new Date(iso);
  const s = Math.max(0, Math.round((Date.now() - t.getTime()) / 1000));
  const text =
    s < 60 ? `${s}s ago` : s < 3600 ? `${Math.floor(s / 60)} min ago` : t.toLocaleString();
  return h("time", { datetime: iso, title: t.toISOString() }, text);
}

/** Shows a message in the page's live region (for action results and errors). */
export function flash(text: string, kind: "ok" | "error" = "ok"): void {
  const el = document.getElementById("flash");
  if (!el) return;
  el.textContent = text;
  el.className = `flash ${kind}`;
  el.hidden = false;
}

/** The error page for an API failure: not found (also for no access), sign in, unreachable. */
export function errorPage(err: unknown): void {
  const e = err instanceof ApiError ? err : new ApiError(-1, String(err), null);
  document.title = "Error · Drover";
  if (e.status === 401) {
    const next = encodeURIComponent(location.pathname + location.search);
    render(
      h("h1", {}, "Sign in required"),
      h("p", {}, h("a", { href: `/login?next=${next}` }, "Sign in"), " to see this page."),
    );
  } else if (e.status === 404) {
    render(
      h("h1", {}, "Not found"),
      h("p", {}, "This page does not exist, or you do not have access to it."),
      h("p", {}, h("a", { href: "/projects" }, "Projects")),
    );
  } else if (e.status === 403) {
    render(
      h("h1", {}, "Not allowed"),
      h("p", {}, e.message),
      h("p", {}, h("a", { href: "/projects" }, "Projects")),
    );
  } else if (e.status === 0) {
    render(
      h("h1", {}, "Server unreachable"),
      h("p", {}, "The control plane does not answer. Check your connection and reload."),
      h("button", { type: "button", onclick: () => location.reload() }, "Reload"),
    );
  } else {
    render(h("h1", {}, "Something went wrong"), h("p", {}, e.message));
  }
  document.body.dataset.state = "error";
}

/** Runs a page's loader; errors become the error page. Marks the body loaded for tests. */
export async function run(load: () => Promise<void>): Promise<void> {
  try {
    await load();
    document.body.dataset.state = "ready";
  } catch (err) {
    errorPage(err);
  }
}
