/**
 * The control plane's pages (all but the job page): the server sends one shell per URL with
 * `data-page` and the URL's parameters on `<body>`; this module renders that page from the API.
 */
import { ApiError, api, badge, flash, forgetToken, h, render, run, when } from "./client.js";

interface Project {
  slug: string;
  name: string;
  organization_name: string;
  vcs_info?: { vcs_url?: string; default_branch?: string };
}
interface Pipeline {
  id: string;
  number: number;
  state: string;
  created_at: string;
  vcs?: { branch?: string; tag?: string; revision?: string };
  trigger: { type: string; actor: { login: string } };
}
interface Workflow {
  id: string;
  name: string;
  status: string;
  pipeline_id: string;
  pipeline_number: number;
  project_slug: string;
  created_at: string;
}
interface WorkflowJob {
  id: string;
  name: string;
  status: string;
  type: string;
  dependencies: string[];
  job_number?: number;
  approval_request_id?: string;
}
interface Page<T> {
  items: T[];
  next_page_token: string | null;
}

const body = document.body;
const param = (name: string): string => body.dataset[name] ?? "";
const enc = (slug: string): string => slug.split("/").map(encodeURIComponent).join("/");

function field(label: string, input: HTMLInputElement | HTMLTextAreaElement): HTMLElement {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

async function loginPage(): Promise<void> {
  document.title = "Sign in · Drover";
  const login = h("input", { name: "login", autocomplete: "username", required: true });
  const password = h("input", {
    name: "password",
    type: "password",
    autocomplete: "current-password",
    required: true,
  });
  const form = h(
    "form",
    { class: "card narrow" },
    h("h1", {}, "Sign in"),
    field("Login", login),
    field("Password", password),
    h("button", { type: "submit" }, "Sign in"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void api("POST", "/api/v2/auth/login", { login: login.value, password: password.value })
      .then(() => {
        const next = new URLSearchParams(location.search).get("next");
        location.assign(next?.startsWith("/") && !next.startsWith("//") ? next : "/projects");
      })
      .catch((err: unknown) => flash(err instanceof ApiError ? err.message : String(err), "error"));
  });
  render(form);
}

async function logoutPage(): Promise<void> {
  document.title = "Sign out · Drover";
  const btn = h("button", { type: "button" }, "Sign out");
  btn.addEventListener("click", () => {
    void api("POST", "/api/v2/auth/logout", {})
      .catch(() => undefined)
      .then(() => {
        forgetToken();
        location.assign("/login");
      });
  });
  render(h("div", { class: "card narrow" }, h("h1", {}, "Sign out"), btn));
}

async function projectsPage(): Promise<void> {
  document.title = "Projects · Drover";
  const [projects, me] = await Promise.all([
    api<Page<Project>>("GET", "/api/v2/project"),
    api<{ role?: string }>("GET", "/api/v2/me"),
  ]);
  const list = h(
    "ul",
    { class: "rows", id: "project-list" },
    ...projects.items.map((p) => h("li", {}, h("a", { href: `/projects/${enc(p.slug)}` }, p.slug))),
  );
  if (projects.items.length === 0) list.append(h("li", {}, "No projects yet."));
  let add: HTMLElement | null = null;
  if (me.role === "admin") {
    const slug = h("input", { name: "slug", placeholder: "github/org/repo", required: true });
    const url = h("input", { name: "repository_url", required: true });
    const branch = h("input", { name: "default_branch", placeholder: "main" });
    add = h(
      "form",
      { class: "card", id: "add-project" },
      h("h2", {}, "Add a project"),
      field("Slug", slug),
      field("Repository URL", url),
      field("Default branch", branch),
      h("button", { type: "submit" }, "Add project"),
    );
    add.addEventListener("submit", (ev) => {
      ev.preventDefault();
      void api<Project>("POST", "/api/v2/project", {
        slug: slug.value,
        repository_url: url.value,
        ...(branch.value ? { default_branch: branch.value } : {}),
      })
        .then((p) => location.assign(`/projects/${enc(p.slug)}`))
        .catch((err: unknown) => flash(err instanceof Error ? err.message : String(err), "error"));
    });
  }
  render(h("h1", {}, "Projects"), list, add);
}

async function projectPage(): Promise<void> {
  const slug = param("slug");
  document.title = `${slug} · Drover`;
  const project = await api<Project>("GET", `/api/v2/project/${enc(slug)}`);
  const branch = new URLSearchParams(location.search).get("branch") ?? "";
  const q = branch ? `?branch=${encodeURIComponent(branch)}` : "";
  const pipelines = await api<Page<Pipeline>>("GET", `/api/v2/project/${enc(slug)}/pipeline${q}`);

  const filterInput = h("input", { name: "branch", value: branch });
  const filter = h(
    "form",
    { class: "inline", method: "get", role: "search" },
    field("Branch", filterInput),
    h("button", { type: "submit" }, "Filter"),
  );

  const tBranch = h("input", {
    name: "branch",
    placeholder: project.vcs_info?.default_branch ?? "",
  });
  const tTag = h("input", { name: "tag" });
  const tParams = h("textarea", {
    name: "parameters",
    rows: "2",
    placeholder: '{"name": "value"}',
  });
  const trigger = h(
    "form",
    { class: "card", id: "trigger" },
    h("h2", {}, "Trigger a pipeline"),
    field("Branch", tBranch),
    field("Tag", tTag),
    field("Parameters (JSON)", tParams),
    h("button", { type: "submit" }, "Trigger"),
  );
  trigger.addEventListener("submit", (ev) => {
    ev.preventDefault();
    let parameters: unknown;
    try {
      parameters = tParams.value.trim() ? JSON.parse(tParams.value) : undefined;
    } catch {
      flash("Parameters must be a JSON object.", "error");
      return;
    }
    void api<{ id: string; number: number }>("POST", `/api/v2/project/${enc(slug)}/pipeline`, {
      ...(tBranch.value ? { branch: tBranch.value } : {}),
      ...(tTag.value ? { tag: tTag.value } : {}),
      ...(parameters !== undefined ? { parameters } : {}),
    })
      .then((p) => location.assign(`/pipelines/${encodeURIComponent(p.id)}`))
      .catch((err: unknown) => flash(err instanceof Error ? err.message : String(err), "error"));
  });

  const rows = pipelines.items.map((p) =>
    h(
      "li",
      {},
      h("a", { href: `/pipelines/${encodeURIComponent(p.id)}` }, `#${p.number}`),
      " ",
      badge(p.state),
      " ",
      h("span", { class: "muted" }, p.vcs?.tag ? `tag ${p.vcs.tag}` : (p.vcs?.branch ?? "")),
      " ",
      when(p.created_at),
      " ",
      h("span", { class: "muted" }, p.trigger.actor.login),
    ),
  );
  render(
    h("nav", { class: "crumbs" }, h("a", { href: "/projects" }, "Projects"), " / ", slug),
    h("h1", {}, project.name),
    h(
      "p",
      {},
      h("a", { href: `/projects/${enc(slug)}/settings` }, "Project settings"),
      " · ",
      h("a", { href: `/projects/${enc(slug)}/schedules` }, "Schedules"),
    ),
    filter,
    h("ul", { class: "rows", id: "pipeline-list" }, ...rows),
    rows.length === 0 ? h("p", {}, "No pipelines.") : null,
    trigger,
  );
}

async function pipelinePage(): Promise<void> {
  const id = param("id");
  const p = await api<Pipeline & { project_slug: string }>("GET", `/api/v2/pipeline/${enc(id)}`);
  document.title = `Pipeline #${p.number} · Drover`;
  const wfs = await api<Page<Workflow>>("GET", `/api/v2/pipeline/${enc(id)}/workflow`);
  render(
    h(
      "nav",
      { class: "crumbs" },
      h("a", { href: `/projects/${enc(p.project_slug)}` }, p.project_slug),
      ` / #${p.number}`,
    ),
    h("h1", {}, `Pipeline #${p.number} `, badge(p.state)),
    h(
      "ul",
      { class: "rows", id: "workflow-list" },
      ...wfs.items.map((w) =>
        h(
          "li",
          {},
          h("a", { href: `/workflows/${encodeURIComponent(w.id)}` }, w.name),
          " ",
          badge(w.status),
        ),
      ),
    ),
  );
}

/** Columns by depth (longest `requires` chain), one node per job, SVG lines for the edges. */
function graph(jobs: WorkflowJob[], onToggle: (id: string, on: boolean) => void): HTMLElement {
  const byId = new Map(jobs.map((j) => [j.id, j]));
  const depth = new Map<string, number>();
  const depthOf = (j: WorkflowJob, seen = new Set<string>()): number => {
    const known = depth.get(j.id);
    if (known !== undefined) return known;
    if (seen.has(j.id)) return 0;
    seen.add(j.id);
    let d = 0;
    for (const dep of j.dependencies) {
      const parent = byId.get(dep);
      if (parent) d = Math.max(d, depthOf(parent, seen) + 1);
    }
    depth.set(j.id, d);
    return d;
  };
  const columns: WorkflowJob[][] = [];
  for (const j of jobs) (columns[depthOf(j)] ??= []).push(j);
  const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
  svg.setAttribute("class", "edges");
  svg.setAttribute("aria-hidden", "true");
  const wrap = h(
    "div",
    { class: "graph", id: "workflow-graph", role: "list", "aria-label": "Jobs" },
    ...columns.map((col) =>
      h(
        "div",
        { class: "col" },
        ...col.map((j) => {
          const box = h("input", { type: "checkbox", "aria-label": `Select ${j.name}` });
          box.addEventListener("change", () => onToggle(j.id, box.checked));
          const label =
            j.type === "build" && j.job_number !== undefined
              ? h("a", { href: `/jobs/${encodeURIComponent(j.id)}` }, j.name)
              : h("span", {}, j.name);
          return h(
            "div",
            {
              class: `node s-${j.status}`,
              role: "listitem",
              "data-job": j.id,
              "data-status": j.status,
            },
            box,
            " ",
            label,
            " ",
            badge(j.status),
          );
        }),
      ),
    ),
  );
  wrap.prepend(svg);
  requestAnimationFrame(() => {
    const base = wrap.getBoundingClientRect();
    svg.setAttribute("width", String(wrap.scrollWidth));
    svg.setAttribute("height", String(wrap.scrollHeight));
    for (const j of jobs) {
      const to = wrap.querySelector(`[data-job="${j.id}"]`)?.getBoundingClientRect();
      for (const dep of j.dependencies) {
        const from = wrap.querySelector(`[data-job="${dep}"]`)?.getBoundingClientRect();
        if (!to || !from) continue;
        const line = document.createElementNS("http://www.w3.org/2000/svg", "line");
        line.setAttribute("x1", String(from.right - base.left));
        line.setAttribute("y1", String(from.top + from.height / 2 - base.top));
        line.setAttribute("x2", String(to.left - base.left));
        line.setAttribute("y2", String(to.top + to.height / 2 - base.top));
        svg.append(line);
      }
    }
  });
  return wrap;
}

const FINAL = new Set(["success", "failed", "canceled", "error", "not_run", "unauthorized"]);

async function workflowPage(): Promise<void> {
  const id = param("id");
  const selected = new Set<string>();
  const act = (label: string, path: string, bodyOf: () => unknown): HTMLButtonElement => {
    const b = h("button", { type: "button" }, label);
    b.addEventListener("click", () => {
      void api<{ workflow_id?: string }>("POST", path, bodyOf())
        .then((r) => {
          flash(`${label}: done.`);
          if (r?.workflow_id) location.assign(`/workflows/${encodeURIComponent(r.workflow_id)}`);
          else void draw();
        })
        .catch((err: unknown) => flash(err instanceof Error ? err.message : String(err), "error"));
    });
    return b;
  };
  const wfPath = `/api/v2/workflow/${enc(id)}`;
  const draw = async (): Promise<boolean> => {
    const [w, jobs] = await Promise.all([
      api<Workflow>("GET", wfPath),
      api<Page<WorkflowJob>>("GET", `${wfPath}/job`),
    ]);
    document.title = `${w.name} · Drover`;
    const approvals = jobs.items.filter((j) => j.type === "approval" && j.status === "on_hold");
    render(
      h(
        "nav",
        { class: "crumbs" },
        h("a", { href: `/projects/${enc(w.project_slug)}` }, w.project_slug),
        " / ",
        h(
          "a",
          { href: `/pipelines/${encodeURIComponent(w.pipeline_id)}` },
          `#${w.pipeline_number}`,
        ),
        ` / ${w.name}`,
      ),
      h("h1", {}, `${w.name} `, h("span", { id: "workflow-status" }, badge(w.status))),
      h(
        "div",
        { class: "actions", role: "toolbar", "aria-label": "Workflow actions" },
        ...approvals.map((j) =>
          act(
            `Approve ${j.name}`,
            `${wfPath}/approve/${enc(j.approval_request_id ?? j.id)}`,
            () => ({}),
          ),
        ),
        act("Cancel", `${wfPath}/cancel`, () => ({})),
        act("Rerun all", `${wfPath}/rerun`, () => ({})),
        act("Rerun from failed", `${wfPath}/rerun`, () => ({ from_failed: true })),
        act("Rerun selected", `${wfPath}/rerun`, () => ({ jobs: [...selected] })),
        act("Rerun selected with SSH", `${wfPath}/rerun`, () => ({
          jobs: [...selected],
          enable_ssh: true,
        })),
      ),
      graph(jobs.items, (jid, on) => (on ? selected.add(jid) : selected.delete(jid))),
    );
    return FINAL.has(w.status);
  };
  await draw();
  // Live status until the workflow is final.
  const tick = (): void => {
    setTimeout(() => {
      if (selected.size > 0) return tick();
      void draw().then(
        (done) => (done ? undefined : tick()),
        () => tick(),
      );
    }, 2000);
  };
  tick();
}

async function settingsPage(): Promise<void> {
  const slug = param("slug");
  document.title = `Settings · ${slug} · Drover`;
  const path = `/api/v2/project/${enc(slug)}/envvar`;
  const vars = await api<Page<{ name: string; value: string }>>("GET", path);
  const name = h("input", { name: "name", required: true, autocomplete: "off" });
  const value = h("input", {
    name: "value",
    type: "password",
    required: true,
    autocomplete: "off",
  });
  const add = h(
    "form",
    { class: "card", id: "add-envvar" },
    h("h2", {}, "Add an environment variable"),
    field("Name", name),
    field("Value", value),
    h("button", { type: "submit" }, "Add variable"),
  );
  add.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void api("POST", path, { name: name.value, value: value.value })
      .then(() => location.reload())
      .catch((err: unknown) => flash(err instanceof Error ? err.message : String(err), "error"));
  });
  const rows = vars.items.map((v) => {
    const del = h("button", { type: "button", "aria-label": `Delete ${v.name}` }, "Delete");
    del.addEventListener("click", () => {
      void api("DELETE", `${path}/${encodeURIComponent(v.name)}`)
        .then(() => location.reload())
        .catch((err: unknown) => flash(err instanceof Error ? err.message : String(err), "error"));
    });
    // The API already masks values; show only that masked form.
    return h(
      "li",
      {},
      h("code", {}, v.name),
      " ",
      h("span", { class: "muted" }, v.value),
      " ",
      del,
    );
  });
  render(
    h(
      "nav",
      { class: "crumbs" },
      h("a", { href: "/projects" }, "Projects"),
      " / ",
      h("a", { href: `/projects/${enc(slug)}` }, slug),
      " / settings",
    ),
    h("h1", {}, "Project settings"),
    h("h2", {}, "Environment variables"),
    h("ul", { class: "rows", id: "envvar-list" }, ...rows),
    rows.length === 0 ? h("p", {}, "No environment variables.") : null,
    add,
  );
}

interface AuditRow {
  id: string;
  action: string;
  actor: { name: string };
  target: { type: string; name: string };
  success: boolean;
  occurred_at: string;
}

async function auditPage(): Promise<void> {
  document.title = "Audit log · Drover";
  const sp = new URLSearchParams(location.search);
  const q = new URLSearchParams();
  for (const k of ["action", "actor-id", "start", "end"]) {
    const v = sp.get(k);
    if (v) q.set(k, v);
  }
  const qs = q.toString() ? `?${q.toString()}` : "";
  const log = await api<Page<AuditRow>>("GET", `/api/v2/admin/audit-log${qs}`);
  const input = (n: string, label: string): HTMLElement =>
    field(label, h("input", { name: n, value: sp.get(n) ?? "" }));
  render(
    h("h1", {}, "Audit log"),
    h(
      "form",
      { class: "inline", method: "get", role: "search" },
      input("action", "Action"),
      input("actor-id", "Actor id"),
      input("start", "From (ISO time)"),
      input("end", "To (ISO time)"),
      h("button", { type: "submit" }, "Filter"),
    ),
    h(
      "p",
      {},
      h(
        "a",
        { href: `/api/v2/admin/audit-log.csv${qs}`, download: "audit-log.csv" },
        "Download CSV",
      ),
    ),
    h(
      "table",
      { id: "audit-table" },
      h(
        "thead",
        {},
        h(
          "tr",
          {},
          ...["Time", "Action", "Actor", "Target", "Result"].map((t) =>
            h("th", { scope: "col" }, t),
          ),
        ),
      ),
      h(
        "tbody",
        {},
        ...log.items.map((e) =>
          h(
            "tr",
            {},
            h("td", {}, when(e.occurred_at)),
            h("td", {}, e.action),
            h("td", {}, e.actor.name),
            h("td", {}, `${e.target.type} ${e.target.name}`),
            h("td", {}, e.success ? "ok" : "refused"),
          ),
        ),
      ),
    ),
  );
}

const fail = (err: unknown): void =>
  flash(err instanceof Error ? err.message : String(err), "error");

async function contextsPage(): Promise<void> {
  const org = param("org");
  document.title = `Contexts · ${org} · Drover`;
  const list = await api<Page<{ id: string; name: string }>>(
    "GET",
    `/api/v2/context?owner-slug=${encodeURIComponent(org)}`,
  );
  const name = h("input", { name: "name", required: true });
  const add = h(
    "form",
    { class: "card", id: "add-context" },
    h("h2", {}, "Add a context"),
    field("Name", name),
    h("button", { type: "submit" }, "Add context"),
  );
  add.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void api<{ id: string }>("POST", "/api/v2/context", {
      name: name.value,
      owner: { slug: org, type: "organization" },
    })
      .then((c) => location.assign(`/contexts/${encodeURIComponent(c.id)}`))
      .catch(fail);
  });
  render(
    h("h1", {}, `Contexts of ${org}`),
    h(
      "ul",
      { class: "rows", id: "context-list" },
      ...list.items.map((c) =>
        h("li", {}, h("a", { href: `/contexts/${encodeURIComponent(c.id)}` }, c.name)),
      ),
    ),
    list.items.length === 0 ? h("p", {}, "No contexts.") : null,
    add,
  );
}

async function contextPage(): Promise<void> {
  const id = param("id");
  const ctx = await api<{ id: string; name: string }>("GET", `/api/v2/context/${enc(id)}`);
  document.title = `${ctx.name} · Drover`;
  const path = `/api/v2/context/${enc(id)}/environment-variable`;
  const vars = await api<Page<{ variable: string }>>("GET", path);
  const name = h("input", { name: "name", required: true, autocomplete: "off" });
  const value = h("input", {
    name: "value",
    type: "password",
    required: true,
    autocomplete: "off",
  });
  const add = h(
    "form",
    { class: "card", id: "add-context-var" },
    h("h2", {}, "Add a variable"),
    field("Name", name),
    field("Value", value),
    h("button", { type: "submit" }, "Add variable"),
  );
  add.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void api("PUT", `${path}/${encodeURIComponent(name.value)}`, { value: value.value })
      .then(() => location.reload())
      .catch(fail);
  });
  const rows = vars.items.map((v) => {
    const del = h("button", { type: "button", "aria-label": `Delete ${v.variable}` }, "Delete");
    del.addEventListener("click", () => {
      void api("DELETE", `${path}/${encodeURIComponent(v.variable)}`)
        .then(() => location.reload())
        .catch(fail);
    });
    // Values are write-only: the API never returns them.
    return h(
      "li",
      {},
      h("code", {}, v.variable),
      " ",
      h("span", { class: "muted" }, "••••"),
      " ",
      del,
    );
  });
  render(
    h("h1", {}, `Context ${ctx.name}`),
    h("ul", { class: "rows", id: "context-var-list" }, ...rows),
    rows.length === 0 ? h("p", {}, "No variables.") : null,
    add,
  );
}

async function usersPage(): Promise<void> {
  document.title = "Users · Drover";
  const users = await api<Page<{ id: string; login: string; name: string; role: string }>>(
    "GET",
    "/api/v2/admin/users",
  );
  const login = h("input", { name: "login", required: true, autocomplete: "off" });
  const name = h("input", { name: "name" });
  const password = h("input", {
    name: "password",
    type: "password",
    required: true,
    autocomplete: "new-password",
  });
  const admin = h("input", { name: "admin", type: "checkbox" });
  const add = h(
    "form",
    { class: "card", id: "add-user" },
    h("h2", {}, "Add a user"),
    field("Login", login),
    field("Name", name),
    field("Password", password),
    h("label", {}, admin, " Administrator"),
    h("p", {}, h("button", { type: "submit" }, "Add user")),
  );
  add.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void api("POST", "/api/v2/admin/users", {
      login: login.value,
      name: name.value || login.value,
      role: admin.checked ? "admin" : "member",
      password: password.value,
    })
      .then(() => location.reload())
      .catch(fail);
  });
  render(
    h("h1", {}, "Users"),
    h(
      "ul",
      { class: "rows", id: "user-list" },
      ...users.items.map((u) => {
        const del = h("button", { type: "button", "aria-label": `Delete ${u.login}` }, "Delete");
        del.addEventListener("click", () => {
          void api("DELETE", `/api/v2/admin/users/${encodeURIComponent(u.id)}`)
            .then(() => location.reload())
            .catch(fail);
        });
        return h("li", {}, h("strong", {}, u.login), ` ${u.name} `, badge(u.role), " ", del);
      }),
    ),
    add,
  );
}

async function sshKeysPage(): Promise<void> {
  document.title = "SSH keys · Drover";
  const keys = await api<Page<{ id: string; title: string; fingerprint: string }>>(
    "GET",
    "/api/v2/me/ssh-keys",
  );
  const key = h("textarea", { name: "public_key", rows: "3", required: true });
  const title = h("input", { name: "title" });
  const add = h(
    "form",
    { class: "card", id: "add-ssh-key" },
    h("h2", {}, "Add a public key"),
    field("Public key", key),
    field("Title", title),
    h("button", { type: "submit" }, "Add key"),
  );
  add.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void api("POST", "/api/v2/me/ssh-keys", {
      public_key: key.value.trim(),
      ...(title.value ? { title: title.value } : {}),
    })
      .then(() => location.reload())
      .catch(fail);
  });
  render(
    h("h1", {}, "SSH keys"),
    h("p", {}, "Reruns with SSH let these keys into the job's machine."),
    h(
      "ul",
      { class: "rows", id: "ssh-key-list" },
      ...keys.items.map((k) => {
        const del = h("button", { type: "button", "aria-label": `Delete ${k.title}` }, "Delete");
        del.addEventListener("click", () => {
          void api("DELETE", `/api/v2/me/ssh-keys/${encodeURIComponent(k.id)}`)
            .then(() => location.reload())
            .catch(fail);
        });
        return h("li", {}, h("strong", {}, k.title), " ", h("code", {}, k.fingerprint), " ", del);
      }),
    ),
    keys.items.length === 0 ? h("p", {}, "No keys.") : null,
    add,
  );
}

interface ScheduleView {
  id: string;
  name: string;
  timetable: { "per-hour": number; "hours-of-day": number[]; "days-of-week"?: string[] };
  parameters: Record<string, unknown>;
}

async function schedulesPage(): Promise<void> {
  const slug = param("slug");
  document.title = `Schedules · ${slug} · Drover`;
  const path = `/api/v2/project/${enc(slug)}/schedule`;
  const list = await api<Page<ScheduleView>>("GET", path);
  const name = h("input", { name: "name", required: true });
  const branch = h("input", { name: "branch", required: true, value: "main" });
  const perHour = h("input", { name: "per-hour", type: "number", min: "1", max: "60", value: "1" });
  const hours = h("input", { name: "hours", value: "3", placeholder: "0, 12" });
  const days = h("input", { name: "days", value: "MON, TUE, WED, THU, FRI" });
  const add = h(
    "form",
    { class: "card", id: "add-schedule" },
    h("h2", {}, "Add a schedule"),
    field("Name", name),
    field("Branch", branch),
    field("Runs per hour", perHour),
    field("Hours of day (UTC, comma separated)", hours),
    field("Days of week (comma separated)", days),
    h("button", { type: "submit" }, "Add schedule"),
  );
  const csv = (v: string): string[] =>
    v
      .split(",")
      .map((x) => x.trim())
      .filter(Boolean);
  add.addEventListener("submit", (ev) => {
    ev.preventDefault();
    void api("POST", path, {
      name: name.value,
      "attribution-actor": "current",
      parameters: { branch: branch.value },
      timetable: {
        "per-hour": Number(perHour.value),
        "hours-of-day": csv(hours.value).map(Number),
        "days-of-week": csv(days.value).map((d) => d.toUpperCase()),
      },
    })
      .then(() => location.reload())
      .catch(fail);
  });
  render(
    h(
      "nav",
      { class: "crumbs" },
      h("a", { href: `/projects/${enc(slug)}` }, slug),
      " / ",
      h("a", { href: `/projects/${enc(slug)}/settings` }, "settings"),
      " / schedules",
    ),
    h("h1", {}, "Schedules"),
    h(
      "ul",
      { class: "rows", id: "schedule-list" },
      ...list.items.map((sc) => {
        const del = h("button", { type: "button", "aria-label": `Delete ${sc.name}` }, "Delete");
        del.addEventListener("click", () => {
          void api("DELETE", `/api/v2/schedule/${encodeURIComponent(sc.id)}`)
            .then(() => location.reload())
            .catch(fail);
        });
        const t = sc.timetable;
        return h(
          "li",
          {},
          h("strong", {}, sc.name),
          ` ${t["per-hour"]}/h at ${t["hours-of-day"].join(", ")} UTC on ${(t["days-of-week"] ?? []).join(", ")} `,
          del,
        );
      }),
    ),
    list.items.length === 0 ? h("p", {}, "No schedules.") : null,
    add,
  );
}

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
