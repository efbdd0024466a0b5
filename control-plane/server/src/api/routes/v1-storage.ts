import type { FastifyInstance } from "fastify";
import type { ServiceUrls } from "../../config/urls.js";
import type { Database } from "../../db/types.js";
import type { TaskStorage } from "../../storage/task-storage.js";
import { visibleJob, type SlugParams } from "../access.js";
import { principalOf } from "../server.js";

type BuildParams = SlugParams & { build_num: string };

/** Most test cases one v1.1 answer holds (v1.1 has no paging). */
const MAX_V1_TESTS = 10_000;

/**
 * CircleCI API v1.1 artifacts and test metadata of a job (`{build_num}/artifacts`,
 * `{build_num}/tests`), as v1.1 clients read them; downloads go through the v2 artifact route.
 */
export function registerV1StorageRoutes(
  app: FastifyInstance,
  deps: { db: Database; storage: TaskStorage; urls: ServiceUrls },
): void {
  const jobOf = (req: { params: BuildParams }, who: ReturnType<typeof principalOf>) =>
    visibleJob(deps.db, who, { ...req.params, number: req.params.build_num });

  app.get<{ Params: BuildParams }>(
    "/api/v1.1/project/:vcs/:org/:repo/:build_num/artifacts",
    async (req) => {
      const { project, job } = await jobOf(req, principalOf(req));
      const base = `${deps.urls.public.replace(/\/$/, "")}/api/v2/project/${project.slug}/${job.number}/artifacts`;
      return (await deps.storage.listArtifacts(job.id)).map((a) => ({
        path: a.path,
        pretty_path: a.path,
        node_index: a.nodeIndex,
        url: `${base}/${a.nodeIndex}/${a.path.split("/").map(encodeURIComponent).join("/")}`,
      }));
    },
  );

  app.get<{ Params: BuildParams }>(
    "/api/v1.1/project/:vcs/:org/:repo/:build_num/tests",
    async (req) => {
      const { job } = await jobOf(req, principalOf(req));
      const rows = await deps.storage.listTests(job.id, { limit: MAX_V1_TESTS });
      return {
        tests: rows.map((t) => ({
          classname: t.classname,
          file: t.file ?? null,
          name: t.name,
          result: t.result,
          run_time: t.runTimeSeconds,
          message: t.message ?? null,
          source: t.source,
          source_type: t.source,
        })),
        exceptions: null,
      };
    },
  );
}
