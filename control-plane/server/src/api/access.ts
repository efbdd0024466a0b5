/** Loading resources for a principal: unknown or invisible ones are 404 alike. */
import type { Database } from "../db/types.js";
import { canSeeProject, type Principal } from "../auth/principal.js";
import { notFound } from "../model/errors.js";
import { getPipeline } from "../model/pipelines.js";
import { getProject, getProjectBySlug } from "../model/projects.js";
import type { Job, Pipeline, Project, User, Workflow } from "../model/records.js";
import { getUser } from "../model/users.js";
import { getJob, getJobByNumber, getWorkflow } from "../model/workflows.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string): boolean => UUID.test(s);

export interface SlugParams {
  vcs: string;
  org: string;
  repo: string;
}
export const slugOf = (p: SlugParams): string => `${p.vcs}/${p.org}/${p.repo}`;

/** VCS names CircleCI's clients write in slugs, and the short form Drover's slugs use. */
const VCS_ALIASES: Readonly<Record<string, string>> = { github: "gh", bitbucket: "bb" };

/** A project by its slug, also when the slug spells its VCS out (`github/org/repo`). */
async function projectBySlug(db: Database, slug: string): Promise<Project | null> {
  const found = await getProjectBySlug(db, slug);
  if (found) return found;
  const [vcs = "", ...rest] = slug.split("/");
  const short = VCS_ALIASES[vcs];
  return short ? getProjectBySlug(db, [short, ...rest].join("/")) : null;
}

export async function visibleProject(db: Database, who: Principal, slug: string): Promise<Project> {
  const project = await projectBySlug(db, slug);
  if (!project || !canSeeProject(who, project.id)) throw notFound("Project");
  return project;
}

/** A job by its project slug and number (`/project/{slug}/job/{number}` routes). */
export async function visibleJob(
  db: Database,
  who: Principal,
  params: SlugParams & { number: string },
): Promise<{ project: Project; job: Job }> {
  const project = await visibleProject(db, who, slugOf(params));
  const n = Number(params.number);
  const job = Number.isInteger(n) ? await getJobByNumber(db, project.id, n) : null;
  if (!job) throw notFound("Job");
  return { project, job };
}

export async function visiblePipeline(
  db: Database,
  who: Principal,
  id: string,
): Promise<{ pipeline: Pipeline; project: Project }> {
  const pipeline = isUuid(id) ? await getPipeline(db, id) : null;
  if (!pipeline || !canSeeProject(who, pipeline.projectId)) throw notFound("Pipeline");
  const project = await getProject(db, pipeline.projectId);
  if (!project) throw notFound("Pipeline");
  return { pipeline, project };
}

export async function visibleWorkflow(
  db: Database,
  who: Principal,
  id: string,
): Promise<{ workflow: Workflow; pipeline: Pipeline; project: Project }> {
  const workflow = isUuid(id) ? await getWorkflow(db, id) : null;
  if (!workflow || !canSeeProject(who, workflow.projectId)) throw notFound("Workflow");
  const { pipeline, project } = await visiblePipeline(db, who, workflow.pipelineId);
  return { workflow, pipeline, project };
}

export async function jobById(db: Database, id: string): Promise<Job | null> {
  return isUuid(id) ? getJob(db, id) : null;
}

/** Users by id, each looked up once per request. */
export function userLookup(db: Database): (id: string | null) => Promise<User | null> {
  const cache = new Map<string, Promise<User | null>>();
  return (id) => {
    if (!id) return Promise.resolve(null);
    let hit = cache.get(id);
    if (!hit) {
      hit = getUser(db, id);
      cache.set(id, hit);
    }
    return hit;
  };
}
