import { randomBytes, randomUUID } from "node:crypto";
import type { Queryable } from "../db/types.js";
import { ControlPlaneError, invalid } from "./errors.js";
import type { Project } from "./records.js";
import { toProject } from "./rows.js";

const SLUG = /^([a-z]+)\/([A-Za-z0-9_.-]+)\/([A-Za-z0-9_.-]+)$/;

/** Splits `<vcs>/<org>/<repo>`; throws a 400 naming `field` otherwise. */
export function parseSlug(
  slug: string,
  field = "slug",
): { vcs: string; org: string; repo: string } {
  const m = SLUG.exec(slug);
  if (!m) {
    throw invalid(`invalid project slug '${slug}'`, [
      { field, message: "must be <vcs>/<org>/<repo>, e.g. gh/acme/app" },
    ]);
  }
  return { vcs: m[1] ?? "", org: m[2] ?? "", repo: m[3] ?? "" };
}

export interface NewProject {
  slug: string;
  repositoryUrl: string;
  defaultBranch?: string;
  settings?: Record<string, unknown>;
}

/** Creates the project (and its organization when new); 409 if the slug exists. */
export async function createProject(q: Queryable, input: NewProject): Promise<Project> {
  const { vcs, org, repo } = parseSlug(input.slug);
  const orgRow = await q.query<{ id: string }>(
    `INSERT INTO organizations (id, vcs, name) VALUES ($1, $2, $3)
     ON CONFLICT (vcs, name) DO UPDATE SET name = EXCLUDED.name RETURNING id`,
    [randomUUID(), vcs, org],
  );
  const orgId = orgRow.rows[0]?.id;
  const { rows } = await q.query(
    `INSERT INTO projects (id, org_id, slug, name, repository_url, default_branch, settings, webhook_secret)
     VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
     ON CONFLICT (slug) DO NOTHING RETURNING *`,
    [
      randomUUID(),
      orgId,
      input.slug,
      repo,
      input.repositoryUrl,
      input.defaultBranch ?? null,
      JSON.stringify(input.settings ?? {}),
      randomBytes(32).toString("hex"),
    ],
  );
  const row = rows[0];
  if (!row) throw new ControlPlaneError("DROVER_ERR_CONFLICT", `project ${input.slug} exists`);
  return toProject(row);
}

/**
 * Changes a project's default branch, merges `settings` into its settings (a null value removes
 * a key), and with `rotateWebhookSecret` draws a new webhook secret (or sets `webhookSecret`).
 * Returns the updated project.
 */
export async function updateProjectSettings(
  q: Queryable,
  projectId: string,
  change: {
    defaultBranch?: string;
    settings?: Record<string, unknown>;
    rotateWebhookSecret?: boolean;
    webhookSecret?: string;
  },
): Promise<Project | null> {
  const entries = Object.entries(change.settings ?? {});
  const { rows } = await q.query(
    `UPDATE projects SET
        default_branch = COALESCE($2, default_branch),
        settings = (settings || $3::jsonb) - $5::text[],
        webhook_secret = COALESCE($4, webhook_secret)
      WHERE id = $1 RETURNING *`,
    [
      projectId,
      change.defaultBranch ?? null,
      JSON.stringify(Object.fromEntries(entries.filter(([, v]) => v !== null))),
      change.rotateWebhookSecret ? randomBytes(32).toString("hex") : (change.webhookSecret ?? null),
      entries.filter(([, v]) => v === null).map(([k]) => k),
    ],
  );
  return rows[0] ? toProject(rows[0]) : null;
}

export async function getProjectBySlug(q: Queryable, slug: string): Promise<Project | null> {
  const { rows } = await q.query("SELECT * FROM projects WHERE slug = $1", [slug]);
  return rows[0] ? toProject(rows[0]) : null;
}

export async function getProject(q: Queryable, id: string): Promise<Project | null> {
  const { rows } = await q.query("SELECT * FROM projects WHERE id = $1", [id]);
  return rows[0] ? toProject(rows[0]) : null;
}

/** Projects whose slug is `<vcs>/<fullName>` for one of `vcsNames` (webhook lookup). */
export async function findProjectsByRepo(
  q: Queryable,
  vcsNames: string[],
  fullName: string,
): Promise<Project[]> {
  const slugs = vcsNames.map((v) => `${v}/${fullName}`);
  const { rows } = await q.query("SELECT * FROM projects WHERE slug = ANY($1::text[])", [slugs]);
  return rows.map(toProject);
}

export async function listProjects(
  q: Queryable,
  onlyIds?: ReadonlySet<string>,
): Promise<Project[]> {
  const { rows } = await q.query("SELECT * FROM projects ORDER BY slug");
  return rows.map(toProject).filter((p) => !onlyIds || onlyIds.has(p.id));
}

/** Reserves `count` consecutive numbers from a project counter; the row lock serializes callers. */
export async function allocateNumbers(
  q: Queryable,
  projectId: string,
  counter: "pipeline" | "job",
  count: number,
): Promise<number> {
  const column = counter === "pipeline" ? "next_pipeline_number" : "next_job_number";
  const { rows } = await q.query<{ first: number }>(
    `UPDATE projects SET ${column} = ${column} + $2 WHERE id = $1 RETURNING ${column} - $2 AS first`,
    [projectId, count],
  );
  const first = rows[0]?.first;
  if (first === undefined) throw new ControlPlaneError("DROVER_ERR_NOT_FOUND", "project not found");
  return Number(first);
}
