import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { invalid } from "../../model/errors.js";
import { slugOf, visibleProject, type SlugParams } from "../access.js";
import { presentTriggeredPipeline } from "../present.js";
import { parse, principalOf } from "../server.js";
import type { CoreRouteDeps } from "./deps.js";
import { triggerFor } from "./pipelines.js";

const ref = z
  .object({
    branch: z.string().min(1).max(255).optional(),
    tag: z.string().min(1).max(255).optional(),
  })
  .strict()
  .refine((r) => !(r.branch && r.tag), { message: "branch and tag are exclusive" });

/** `POST /project/{slug}/pipeline/run` (CircleCI's newer trigger). */
export const runBodySchema = z
  .object({
    /** Drover has one pipeline definition per project; its id is the project's id. */
    definition_id: z.uuid().optional(),
    /** Where the config is read from. */
    config: ref.optional(),
    /** What is checked out. */
    checkout: ref.optional(),
    parameters: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
  })
  .strict();

type Ref = z.infer<typeof ref>;

/** The one ref the pipeline builds: Drover reads the config from the commit it checks out. */
function refOf(config: Ref | undefined, checkout: Ref | undefined): Ref {
  if (config && checkout && (config.branch !== checkout.branch || config.tag !== checkout.tag)) {
    throw invalid("config and checkout must name the same branch or tag", [
      {
        field: "checkout",
        message: "differs from config: Drover reads the config from the commit it checks out",
      },
    ]);
  }
  return checkout ?? config ?? {};
}

/** CircleCI's `pipeline/run` trigger, on the classic trigger's code path. */
export function registerPipelineRunRoutes(app: FastifyInstance, deps: CoreRouteDeps): void {
  app.post<{ Params: SlugParams }>(
    "/api/v2/project/:vcs/:org/:repo/pipeline/run",
    async (req, reply) => {
      const project = await visibleProject(deps.db, principalOf(req), slugOf(req.params));
      const body = parse(runBodySchema, req.body);
      if (body.definition_id !== undefined && body.definition_id !== project.id) {
        throw invalid(`Unknown definition_id ${body.definition_id}`, [
          {
            field: "definition_id",
            message:
              "not a definition of this project (Drover's one definition id is the project id)",
          },
        ]);
      }
      const at = refOf(body.config, body.checkout);
      const p = await triggerFor(deps, req, project, { ...at, parameters: body.parameters });
      return reply.code(201).send(presentTriggeredPipeline(p));
    },
  );
}
