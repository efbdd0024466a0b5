/** Project settings: environment variables and schedules. */
import { api, flash, h, render } from "../client.js";
import { enc, fail, field, param, type Page } from "./ui.js";

export async function settingsPage(): Promise<void> {
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
    h(
      "p",
      {},
      h("a", { href: `/projects/${enc(slug)}/webhooks` }, "Webhooks"),
      " · ",
      h("a", { href: `/projects/${enc(slug)}/schedules` }, "Schedules"),
    ),
    h("h2", {}, "Environment variables"),
    h("ul", { class: "rows", id: "envvar-list" }, ...rows),
    rows.length === 0 ? h("p", {}, "No environment variables.") : null,
    add,
  );
}

interface ScheduleView {
  id: string;
  name: string;
  timetable: { "per-hour": number; "hours-of-day": number[]; "days-of-week"?: string[] };
  parameters: Record<string, unknown>;
}

export async function schedulesPage(): Promise<void> {
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
