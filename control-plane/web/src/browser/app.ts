/**
 * The control plane's pages (all but the job page): the server sends one shell per URL with
 * `data-page` and the URL's parameters on `<body>`; this module picks the page, which renders
 * itself from the API.
 */
import { ApiError, api, h, run } from "./client.js";
import { auditPage, contextPage, contextsPage, sshKeysPage, usersPage } from "./pages/admin.js";
import { pipelinePage, projectPage, projectsPage } from "./pages/projects.js";
import { loginPage, logoutPage } from "./pages/session.js";
import { schedulesPage, settingsPage } from "./pages/settings.js";
import { webhooksPage } from "./pages/webhooks.js";
import { workflowPage } from "./pages/workflow.js";

const body = document.body;

const PAGES: Record<string, () => Promise<void>> = {
  login: loginPage,
  logout: logoutPage,
  projects: projectsPage,
  project: projectPage,
  pipeline: pipelinePage,
  workflow: workflowPage,
  settings: settingsPage,
  audit: auditPage,
  contexts: contextsPage,
  context: contextPage,
  users: usersPage,
  "ssh-keys": sshKeysPage,
  schedules: schedulesPage,
  webhooks: webhooksPage,
};

/** Admins get the admin pages in the top bar. */
async function adminLinks(): Promise<void> {
  const me = await api<{ role?: string }>("GET", "/api/v2/me");
  const top = document.querySelector("header.top");
  if (me.role !== "admin" || !top || top.querySelector(".admin")) return;
  top.append(
    h("a", { class: "admin", href: "/admin/users" }, "Users"),
    h("a", { class: "admin", href: "/admin/audit-log" }, "Audit log"),
  );
}

const page = PAGES[body.dataset.page ?? ""];
void run(page ?? (() => Promise.reject(new ApiError(404, "Not found", null)))).then(() => {
  if (body.dataset.page !== "login" && body.dataset.state === "ready") {
    adminLinks().catch(() => undefined);
  }
});
