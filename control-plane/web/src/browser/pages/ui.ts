/** Helpers and API shapes shared by the pages of `app.ts`. */
import { flash, h } from "../client.js";

export interface Project {
  id: string;
  slug: string;
  name: string;
  organization_name: string;
  vcs_info?: { vcs_url?: string; default_branch?: string };
}
export interface Pipeline {
  id: string;
  number: number;
  state: string;
  created_at: string;
  vcs?: { branch?: string; tag?: string; revision?: string };
  trigger: { type: string; actor: { login: string } };
}
export interface Workflow {
  id: string;
  name: string;
  status: string;
  pipeline_id: string;
  pipeline_number: number;
  project_slug: string;
  created_at: string;
  stopped_at?: string | null;
}
export interface WorkflowJob {
  id: string;
  name: string;
  status: string;
  type: string;
  dependencies: string[];
  job_number?: number;
  approval_request_id?: string;
  started_at?: string | null;
  stopped_at?: string | null;
  parallelism?: number;
}
export interface Page<T> {
  items: T[];
  next_page_token: string | null;
}

export const param = (name: string): string => document.body.dataset[name] ?? "";
export const enc = (slug: string): string => slug.split("/").map(encodeURIComponent).join("/");

/** A labelled form field. */
export function field(label: string, input: HTMLInputElement | HTMLTextAreaElement): HTMLElement {
  return h("label", { class: "field" }, h("span", {}, label), input);
}

/** Shows an action's error in the page's live region. */
export const fail = (err: unknown): void =>
  flash(err instanceof Error ? err.message : String(err), "error");

/** "1m 05s" from `start` to `stop` (or now, while running). */
export function duration(start: string, stop?: string | null): string {
  const ms = (stop ? Date.parse(stop) : Date.now()) - Date.parse(start);
  const s = Math.max(0, Math.round(ms / 1000));
  return s < 60 ? `${s}s` : `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, "0")}s`;
}

/**
 * Runs `redraw` (which replaces the page's elements) and gives keyboard focus back to the
 * element that had it: the same `id`, `aria-label` or button text in the new page.
 */
export function keepFocus(redraw: () => void): void {
  const el = document.activeElement;
  const key =
    el instanceof HTMLElement && el !== document.body
      ? el.id
        ? `#${CSS.escape(el.id)}`
        : el.getAttribute("aria-label")
          ? `[aria-label="${CSS.escape(el.getAttribute("aria-label") ?? "")}"]`
          : el.tagName === "BUTTON"
            ? `button:${el.textContent ?? ""}`
            : null
      : null;
  redraw();
  if (!key) return;
  if (key.startsWith("button:")) {
    const text = key.slice("button:".length);
    for (const b of document.querySelectorAll("button")) {
      if (b.textContent === text) return b.focus();
    }
    return;
  }
  document.querySelector<HTMLElement>(key)?.focus();
}
