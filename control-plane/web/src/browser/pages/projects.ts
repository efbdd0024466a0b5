/** Projects, a project's pipelines and a pipeline's workflows. */
import { api, badge, flash, h, render, when } from "../client.js";
import { liveIndicator, watchProject } from "../live.js";
import {
  enc,
  field,
  keepFocus,
  param,
  type Page,
  type Pipeline,
  type Project,
  type Workflow,
} from "./ui.js";

/** A pipeline's workflows as links with their status. */
async function workflowLinks(pipelineId: string): Promise<HTMLElement> {
  const wfs = await api<Page<Workflow>>("GET", `/api/v2/pipeline/${enc(pipelineId)}/workflow`);
  return h(
    "span",
    { class: "workflows", "data-pipeline": pipelineId },
    ...wfs.items.flatMap((w) => [
      " ",
      h("a", { href: `/workflows/${encodeURIComponent(w.id)}` }, w.name),
      " ",
      badge(w.status),
    ]),
  );
}

export async function projectsPage(): Promise<void> {
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

export async function projectPage(): Promise<void> {
  const slug = param("slug");
  document.title = `${slug} · Drover`;
  const project = await api<Project>("GET", `/api/v2/project/${enc(slug)}`);
  const branch = new URLSearchParams(location.search).get("branch") ?? "";
  const q = branch ? `?branch=${encodeURIComponent(branch)}` : "";

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

  const list = h("ul", { class: "rows", id: "pipeline-list" });
  const empty = h("p", {}, "No pipelines.");
  const drawList = async (): Promise<void> => {
    const page = await api<Page<Pipeline>>("GET", `/api/v2/project/${enc(slug)}/pipeline${q}`);
    const rows = await Promise.all(
      page.items.map(async (p) =>
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
          await workflowLinks(p.id),
        ),
      ),
    );
    keepFocus(() => list.replaceChildren(...rows));
    empty.hidden = rows.length > 0;
  };
  await drawList();
  // Changed pipelines since the last refresh: a shown one redraws its workflows only; one not
  // shown (a new pipeline) or a poll (none named) redraws the list.
  const changed = new Set<string>();
  const refresh = async (): Promise<void> => {
    const ids = [...changed];
    changed.clear();
    const spans = ids.map((id) =>
      list.querySelector<HTMLElement>(`.workflows[data-pipeline="${CSS.escape(id)}"]`),
    );
    if (ids.length === 0 || spans.some((x) => x === null)) return drawList();
    for (const [i, span] of spans.entries()) {
      const fresh = await workflowLinks(ids[i] ?? "");
      keepFocus(() => span?.replaceWith(fresh));
    }
  };
  render(
    h("nav", { class: "crumbs" }, h("a", { href: "/projects" }, "Projects"), " / ", slug),
    h("h1", {}, project.name, " ", liveIndicator()),
    h(
      "p",
      {},
      h("a", { href: `/projects/${enc(slug)}/settings` }, "Project settings"),
      " · ",
      h("a", { href: `/projects/${enc(slug)}/webhooks` }, "Webhooks"),
      " · ",
      h("a", { href: `/projects/${enc(slug)}/schedules` }, "Schedules"),
    ),
    filter,
    list,
    empty,
    trigger,
  );
  // New pipelines and workflow status arrive on the project's channel.
  watchProject(
    project.id,
    (e) => {
      if (e.kind !== "workflow_changed" || !e.pipelineId) return false;
      changed.add(e.pipelineId);
      return true;
    },
    refresh,
  );
}

export async function pipelinePage(): Promise<void> {
  const id = param("id");
  const p = await api<Pipeline & { project_slug: string }>("GET", `/api/v2/pipeline/${enc(id)}`);
  document.title = `Pipeline #${p.number} · Drover`;
  const list = h("ul", { class: "rows", id: "workflow-list" });
  const drawList = async (): Promise<void> => {
    const wfs = await api<Page<Workflow>>("GET", `/api/v2/pipeline/${enc(id)}/workflow`);
    const rows = wfs.items.map((w) =>
      h(
        "li",
        {},
        h("a", { href: `/workflows/${encodeURIComponent(w.id)}` }, w.name),
        " ",
        badge(w.status),
      ),
    );
    keepFocus(() => list.replaceChildren(...rows));
  };
  await drawList();
  render(
    h(
      "nav",
      { class: "crumbs" },
      h("a", { href: `/projects/${enc(p.project_slug)}` }, p.project_slug),
      ` / #${p.number}`,
    ),
    h("h1", {}, `Pipeline #${p.number} `, badge(p.state), " ", liveIndicator()),
    list,
  );
  const project = await api<Project>("GET", `/api/v2/project/${enc(p.project_slug)}`);
  watchProject(project.id, (e) => e.pipelineId === id, drawList);
}
