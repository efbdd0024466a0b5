/** Helpers and API shapes shared by the pages of `app.ts`. */
import { flash, h } from "../client.js";

export interface Project {
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
}
export interface WorkflowJob {
  id: string;
  name: string;
  status: string;
  type: string;
  dependencies: string[];
  job_number?: number;
  approval_request_id?: string;
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
