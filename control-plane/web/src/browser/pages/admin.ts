/** Admin and account pages: audit log, contexts, users, SSH keys. */
import { api, badge, h, render, when } from "../client.js";
import { enc, fail, field, param, type Page } from "./ui.js";

interface AuditRow {
  id: string;
  action: string;
  actor: { name: string };
  target: { type: string; name: string };
  success: boolean;
  occurred_at: string;
}

export async function auditPage(): Promise<void> {
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

export async function contextsPage(): Promise<void> {
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

export async function contextPage(): Promise<void> {
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

export async function usersPage(): Promise<void> {
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

export async function sshKeysPage(): Promise<void> {
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
