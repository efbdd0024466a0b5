/** The workflow graph with live status (the project's channel) and its actions. */
import { api, badge, flash, h, render } from "../client.js";
import { liveIndicator, watchProject } from "../live.js";
import {
  duration,
  enc,
  keepFocus,
  param,
  type Page,
  type Project,
  type Workflow,
  type WorkflowJob,
} from "./ui.js";

/** Columns by depth (longest `requires` chain), one node per job, SVG lines for the edges. */
function graph(jobs: WorkflowJob[], selected: Set<string>): HTMLElement {
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
          const box = h("input", {
            type: "checkbox",
            "aria-label": `Select ${j.name}`,
            checked: selected.has(j.id),
          });
          box.addEventListener("change", () =>
            box.checked ? selected.add(j.id) : selected.delete(j.id),
          );
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
            j.parallelism ? h("span", { class: "muted" }, ` ×${j.parallelism}`) : null,
            j.started_at
              ? h(
                  "span",
                  { class: "muted dur", "data-started": j.stopped_at ? "" : j.started_at },
                  ` ${duration(j.started_at, j.stopped_at)}`,
                )
              : null,
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
const notYet = "A workflow reruns once it has finished.";

export async function workflowPage(): Promise<void> {
  const id = param("id");
  const selected = new Set<string>();
  const act = (
    label: string,
    path: string,
    bodyOf: () => unknown,
    off: string | false = false,
  ): HTMLButtonElement => {
    // A button that does not apply now is disabled and says why.
    const b = h("button", { type: "button", disabled: off !== false, title: off || "" }, label);
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
  const draw = async (): Promise<Workflow> => {
    const [w, jobs] = await Promise.all([
      api<Workflow>("GET", wfPath),
      api<Page<WorkflowJob>>("GET", `${wfPath}/job`),
    ]);
    document.title = `${w.name} · Drover`;
    const approvals = jobs.items.filter((j) => j.type === "approval" && j.status === "on_hold");
    const final = FINAL.has(w.status);
    keepFocus(() =>
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
        h(
          "h1",
          {},
          `${w.name} `,
          h("span", { id: "workflow-status" }, badge(w.status)),
          " ",
          h("span", { class: "muted dur" }, duration(w.created_at, w.stopped_at)),
          " ",
          liveIndicator(),
        ),
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
          act("Cancel", `${wfPath}/cancel`, () => ({}), final && "The workflow has finished."),
          act("Rerun all", `${wfPath}/rerun`, () => ({}), !final && notYet),
          act(
            "Rerun from failed",
            `${wfPath}/rerun`,
            () => ({ from_failed: true }),
            w.status !== "failed" && "Only a failed workflow reruns from failed.",
          ),
          act(
            "Rerun selected",
            `${wfPath}/rerun`,
            () => ({ jobs: [...selected] }),
            !final && notYet,
          ),
          act(
            "Rerun selected with SSH",
            `${wfPath}/rerun`,
            () => ({ jobs: [...selected], enable_ssh: true }),
            !final && notYet,
          ),
        ),
        graph(jobs.items, selected),
      ),
    );
    return w;
  };
  const w = await draw();
  // Running jobs' durations tick between redraws.
  setInterval(() => {
    for (const el of document.querySelectorAll<HTMLElement>("#workflow-graph [data-started]")) {
      const start = el.dataset.started;
      if (start) el.textContent = ` ${duration(start)}`;
    }
  }, 1000);
  // Live status: the project's channel says when this workflow changed.
  const project = await api<Project>("GET", `/api/v2/project/${enc(w.project_slug)}`);
  watchProject(
    project.id,
    // Job status changes come as the workflow's change; step events do not change the graph.
    (e) => e.kind === "workflow_changed" && e.workflowId === id,
    draw,
  );
}
