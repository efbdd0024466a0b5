/**
 * The job page's tabs beside the output: test results (failed first) and artifacts, read from
 * the API's `{number}/tests` and `{number}/artifacts` of the job's project.
 */
import { api, h } from "./client.js";

interface TestResult {
  name: string;
  classname?: string;
  result: string;
  message?: string;
  file?: string;
  run_time?: number;
}
interface Artifact {
  path: string;
  node_index: number;
  url: string;
}

const FAILED = new Set(["failure", "failed", "error"]);

/** Orders failed tests first, then by class and name. */
export function failedFirst(tests: readonly TestResult[]): TestResult[] {
  return [...tests].sort(
    (a, b) =>
      Number(FAILED.has(b.result)) - Number(FAILED.has(a.result)) ||
      (a.classname ?? "").localeCompare(b.classname ?? "") ||
      a.name.localeCompare(b.name),
  );
}

/** Adds the tab bar and the two panels after `#tasks`; the output stays the first tab. */
export async function mountJobTabs(slug: string, number: number): Promise<void> {
  const output = document.getElementById("tasks");
  if (!output || document.getElementById("job-tabs")) return;
  const base = `/api/v2/project/${slug.split("/").map(encodeURIComponent).join("/")}/${number}`;
  const [tests, artifacts] = await Promise.all([
    api<{ items: TestResult[] }>("GET", `${base}/tests`).catch(() => ({ items: [] })),
    api<{ items: Artifact[] }>("GET", `${base}/artifacts`).catch(() => ({ items: [] })),
  ]);
  const failed = tests.items.filter((t) => FAILED.has(t.result)).length;
  const testsPanel = h(
    "section",
    { id: "tab-tests", role: "tabpanel", "aria-labelledby": "tabbtn-tests", hidden: true },
    tests.items.length === 0
      ? h("p", {}, "No test results.")
      : h(
          "ul",
          { class: "tests" },
          ...failedFirst(tests.items).map((t) =>
            h(
              "li",
              { class: FAILED.has(t.result) ? "test failed" : "test" },
              h("strong", {}, t.result),
              " ",
              t.classname ? `${t.classname} › ` : "",
              t.name,
              t.message && FAILED.has(t.result) ? h("pre", {}, t.message) : null,
            ),
          ),
        ),
  );
  const artifactsPanel = h(
    "section",
    { id: "tab-artifacts", role: "tabpanel", "aria-labelledby": "tabbtn-artifacts", hidden: true },
    artifacts.items.length === 0
      ? h("p", {}, "No artifacts.")
      : h(
          "ul",
          { class: "artifacts" },
          ...artifacts.items.map((a) =>
            h("li", {}, h("a", { href: a.url, rel: "noopener" }, a.path)),
          ),
        ),
  );
  const panels: Record<string, HTMLElement> = {
    output,
    tests: testsPanel,
    artifacts: artifactsPanel,
  };
  const buttons = (
    [
      ["output", "Output"],
      ["tests", `Tests (${tests.items.length}${failed ? `, ${failed} failed` : ""})`],
      ["artifacts", `Artifacts (${artifacts.items.length})`],
    ] as const
  ).map(([key, label]) => {
    const b = h(
      "button",
      {
        type: "button",
        role: "tab",
        id: `tabbtn-${key}`,
        "aria-selected": String(key === "output"),
      },
      label,
    );
    b.addEventListener("click", () => {
      for (const [k, p] of Object.entries(panels)) p.hidden = k !== key;
      for (const other of buttons) other.setAttribute("aria-selected", String(other === b));
    });
    return b;
  });
  output.before(h("div", { id: "job-tabs", role: "tablist", "aria-label": "Job" }, ...buttons));
  output.after(testsPanel, artifactsPanel);
}
