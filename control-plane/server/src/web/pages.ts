/**
 * The shells of the control plane's pages (`@drover/web`'s `app.js` renders them from the API).
 *
 * | route | page |
 * |---|---|
 * | `GET /login`, `GET /logout` | sign in / sign out (session cookie) |
 * | `GET /projects` | projects, add one (admin) |
 * | `GET /projects/{vcs}/{org}/{repo}` | pipelines (newest first, `?branch=`), trigger |
 * | `GET /projects/{vcs}/{org}/{repo}/settings` | environment variables (masked), add / delete |
 * | `GET /projects/{vcs}/{org}/{repo}/webhooks` | webhook URLs, whether a secret is set, set / rotate it |
 * | `GET /admin/audit-log` | the audit log (filters, CSV download); admins |
 * | `GET /admin/users` | users: list, add, delete; admins |
 * | `GET /organizations/{vcs}/{org}/contexts` | an organization's contexts, add one |
 * | `GET /contexts/{id}` | a context's variables (names only), add / delete |
 * | `GET /account/ssh-keys` | the caller's SSH public keys (reruns with SSH) |
 * | `GET /projects/{vcs}/{org}/{repo}/schedules` | scheduled pipelines, add / delete |
 * | `GET /pipelines/{id}` | a pipeline's workflows |
 * | `GET /workflows/{id}` | the workflow graph, live status, approve / cancel / rerun |
 *
 * The shells carry no data: every page fetches what it shows with the caller's session cookie
 * or API token, so a page a user may not see renders the "not found" page. They name the Pusher
 * app (`data-live`, public settings only) for the pages that follow a project's channel.
 */
import type { FastifyInstance } from "fastify";
import { PUSHER_JS_PATH, assetPath } from "./job-page.js";

/** Where browsers reach the output-processor's Pusher app; no secret. */
export interface LiveSettings {
  key: string;
  wsHost: string | null;
  wsPort: number;
  forceTLS: boolean;
}

const esc = (s: string): string =>
  s.replace(/&/g, "&amp;").replace(/"/g, "&quot;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/** One page's shell: `data-page` names the page, `params` become `data-*` attributes. */
export function renderAppPage(
  page: string,
  params: Record<string, string>,
  version: string,
  live?: LiveSettings,
): string {
  const all = live ? { ...params, live: JSON.stringify(live) } : params;
  const attrs = Object.entries(all)
    .map(([k, v]) => ` data-${k.replace(/[^a-z]/g, "")}="${esc(v)}"`)
    .join("");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer">
<link rel="icon" href="data:,">
<title>Drover</title>
<link rel="stylesheet" href="${assetPath(version, "app.css")}">
</head>
<body data-page="${esc(page)}"${attrs} data-state="loading">
<header class="top"><a class="brand" href="/projects">Drover</a><a href="/projects">Projects</a><a href="/account/ssh-keys">SSH keys</a><a href="/logout">Sign out</a></header>
<main>
<div id="flash" class="flash" role="status" aria-live="polite" hidden></div>
<div id="drover-app"><p>Loading…</p></div>
</main>
<script src="${PUSHER_JS_PATH}"></script>
<script type="module" src="${assetPath(version, "app.js")}"></script>
</body>
</html>
`;
}

export const APP_PAGE_CSP =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self' ws: wss:; " +
  "img-src 'self' data:; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/** Registers the page shells; `version` gives the current bundle's hash. */
export function registerAppPages(
  app: FastifyInstance,
  version: () => Promise<string>,
  headers: Record<string, string>,
  live?: LiveSettings,
): void {
  const shell = (
    url: string,
    page: string,
    params: (p: Record<string, string>) => Record<string, string> = () => ({}),
  ): void => {
    app.get<{ Params: Record<string, string> }>(
      url,
      {
        config: { auth: "none" },
        // A token in the URL is for the browser only: take it off before any hook logs it.
        onRequest: async (req) => {
          const raw = req.raw.url ?? "";
          const q = raw.indexOf("?");
          if (q < 0) return;
          const sp = new URLSearchParams(raw.slice(q + 1));
          if (!sp.has("token")) return;
          sp.set("token", "[redacted]");
          req.raw.url = `${raw.slice(0, q)}?${sp.toString()}`;
        },
      },
      async (req, reply) => {
        void reply
          .headers({
            ...headers,
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
            "content-security-policy": APP_PAGE_CSP,
          })
          .send(renderAppPage(page, params(req.params), await version(), live));
      },
    );
  };
  shell("/login", "login");
  shell("/logout", "logout");
  shell("/projects", "projects");
  shell("/projects/:vcs/:org/:repo", "project", (p) => ({
    slug: `${p.vcs ?? ""}/${p.org ?? ""}/${p.repo ?? ""}`,
  }));
  shell("/projects/:vcs/:org/:repo/settings", "settings", (p) => ({
    slug: `${p.vcs ?? ""}/${p.org ?? ""}/${p.repo ?? ""}`,
  }));
  shell("/projects/:vcs/:org/:repo/webhooks", "webhooks", (p) => ({
    slug: `${p.vcs ?? ""}/${p.org ?? ""}/${p.repo ?? ""}`,
  }));
  shell("/admin/audit-log", "audit");
  shell("/admin/users", "users");
  shell("/account/ssh-keys", "ssh-keys");
  shell("/projects/:vcs/:org/:repo/schedules", "schedules", (p) => ({
    slug: `${p.vcs ?? ""}/${p.org ?? ""}/${p.repo ?? ""}`,
  }));
  shell("/organizations/:vcs/:org/contexts", "contexts", (p) => ({
    org: `${p.vcs ?? ""}/${p.org ?? ""}`,
  }));
  shell("/contexts/:id", "context", (p) => ({ id: p.id ?? "" }));
  shell("/pipelines/:id", "pipeline", (p) => ({ id: p.id ?? "" }));
  shell("/workflows/:id", "workflow", (p) => ({ id: p.id ?? "" }));
}
