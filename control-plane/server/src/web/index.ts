/**
 * The web UI's routes: the live job page and what it needs.
 *
 * | route | auth | what |
 * |---|---|---|
 * | `GET /jobs/{id}` | none (a shell) | the page; `?token=<API token>` or `#token=` on the first load |
 * | `GET /web/v1/jobs/{id}` | user | the job (API v2 job details) plus the pusher-js settings |
 * | `POST /api/pusher/auth` | user | Pusher channel authorization (`api/routes/pusher-auth.ts`) |
 * | `GET /static/web/pusher.min.js` | none | pusher-js's browser build |
 * | `GET /static/web/{version}/{name}` | none | `@drover/web`'s built files (content-hashed `version`) |
 *
 * Page auth: the page takes an API token from `?token=` (or `#token=`, which never reaches the
 * server) once, keeps it in the tab's `sessionStorage`, removes it from the address bar and sends it
 * as `Authorization: Bearer` to the two user routes; without one it relies on the session cookie
 * (`ComposeOptions.authenticators`). The server strips `token` from the page URL before anything
 * logs it.
 */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { loadWebBundle, type WebBundle } from "@drover/web";
import { registerPusherAuthRoutes } from "../api/routes/pusher-auth.js";
import { jobById } from "../api/access.js";
import { presentJobDetails } from "../api/present.js";
import { principalOf } from "../api/server.js";
import { canSeeProject } from "../auth/principal.js";
import { notFound } from "../model/errors.js";
import { getPipeline } from "../model/pipelines.js";
import { getProject } from "../model/projects.js";
import type { TaskStep } from "../model/records.js";
import { getWorkflow, listTaskSteps, listTasksOfJob } from "../model/workflows.js";
import type { ControlPlaneDeps, RouteModule } from "../server/compose.js";
import { JOB_DATA_PATH, PUSHER_JS_PATH, STATIC_PREFIX, renderJobPage } from "./job-page.js";
import { registerAppPages } from "./pages.js";

export { renderJobPage, assetPath, PUSHER_JS_PATH, JOB_DATA_PATH } from "./job-page.js";
export { renderAppPage, registerAppPages, type LiveSettings } from "./pages.js";
export { publishWorkflowChanges, type PublishProjectEvent } from "./live.js";
export { registerPusherAuthRoutes, type PusherAuthConfig } from "../api/routes/pusher-auth.js";

/** The output-processor's Pusher app as browsers reach it. */
export const webPusherConfigSchema = z.object({
  appKey: z.string().min(1),
  /** Signs channel authorizations; never sent to browsers. */
  appSecret: z.string().min(16),
  /** Host browsers connect to; default the page's own host name. */
  wsHost: z.string().min(1).optional(),
  /** Port of the output-processor's WebSocket (8585). */
  wsPort: z.number().int().min(1).max(65535).default(8585),
  /** `wss:` instead of `ws:`. */
  forceTLS: z.boolean().default(false),
});
export type WebPusherConfig = z.infer<typeof webPusherConfigSchema>;
export type WebPusherConfigInput = z.input<typeof webPusherConfigSchema>;

export interface WebDeps {
  pusher: WebPusherConfigInput;
}

/** Where the page loads pusher-js from: the installed package's browser build. */
export function pusherBrowserBuildPath(): string {
  return createRequire(import.meta.url).resolve("pusher-js/dist/web/pusher.min.js");
}

const SECURITY_HEADERS = {
  "referrer-policy": "no-referrer",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
};

/** Registers the job page, its data and assets, and `POST /api/pusher/auth`. */
export function registerWebRoutes(
  app: FastifyInstance,
  deps: ControlPlaneDeps,
  web: WebDeps,
): void {
  const pusher = webPusherConfigSchema.parse(web.pusher);
  const { db } = deps;
  registerPusherAuthRoutes(app, { db, pusher });

  let pusherJs: Promise<Buffer> | null = null;
  let bundle: Promise<WebBundle> | null = null;
  const webBundle = (): Promise<WebBundle> => {
    bundle ??= loadWebBundle().catch((err: unknown) => {
      bundle = null;
      throw err;
    });
    return bundle;
  };

  registerAppPages(app, async () => (await webBundle()).version, SECURITY_HEADERS, {
    key: pusher.appKey,
    wsHost: pusher.wsHost ?? null,
    wsPort: pusher.wsPort,
    forceTLS: pusher.forceTLS,
  });

  app.get<{ Params: { id: string } }>(
    "/jobs/:id",
    {
      config: { auth: "none" },
      // The token is for the browser only: take it off the URL before any hook logs it.
      onRequest: async (req) => {
        const raw = req.raw.url ?? "";
        const q = raw.indexOf("?");
        if (q < 0) return;
        const params = new URLSearchParams(raw.slice(q + 1));
        if (!params.has("token")) return;
        params.set("token", "[redacted]");
        req.raw.url = `${raw.slice(0, q)}?${params.toString()}`;
      },
    },
    async (req, reply) => {
      void reply
        .headers({
          ...SECURITY_HEADERS,
          "content-type": "text/html; charset=utf-8",
          "cache-control": "no-store",
          "content-security-policy":
            "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
            "connect-src 'self' ws: wss:; img-src 'self' data:; base-uri 'none'; " +
            "form-action 'none'; frame-ancestors 'none'",
        })
        .send(renderJobPage(req.params.id, (await webBundle()).version));
    },
  );

  app.get<{ Params: { id: string } }>(
    `${JOB_DATA_PATH}/:id`,
    { config: { auth: "user" } },
    async (req, reply) => {
      const who = principalOf(req);
      const job = await jobById(db, req.params.id);
      if (!job || !canSeeProject(who, job.projectId)) throw notFound("Job");
      const [workflow, project] = await Promise.all([
        getWorkflow(db, job.workflowId),
        getProject(db, job.projectId),
      ]);
      const pipeline = workflow ? await getPipeline(db, workflow.pipelineId) : null;
      if (!workflow || !project || !pipeline) throw notFound("Job");
      const tasks = await listTasksOfJob(db, job.id);
      const steps = new Map<string, TaskStep[]>();
      for (const t of tasks) steps.set(t.id, await listTaskSteps(db, t.id));
      void reply.header("cache-control", "no-store");
      return {
        job: {
          ...presentJobDetails(job, workflow, pipeline, project, tasks, steps, deps.urls.public),
          pipeline_number: pipeline.number,
        },
        pusher: {
          key: pusher.appKey,
          wsHost: pusher.wsHost ?? null,
          wsPort: pusher.wsPort,
          forceTLS: pusher.forceTLS,
        },
      };
    },
  );

  app.get(PUSHER_JS_PATH, { config: { auth: "none" } }, async (_req, reply) => {
    pusherJs ??= readFile(pusherBrowserBuildPath());
    const body = await pusherJs.catch((err: unknown) => {
      pusherJs = null;
      throw err;
    });
    void reply
      .headers({
        ...SECURITY_HEADERS,
        "content-type": "application/javascript; charset=utf-8",
        "cache-control": "public, max-age=3600",
      })
      .send(body);
  });
  app.get<{ Params: { version: string; name: string } }>(
    `${STATIC_PREFIX}/:version/:name`,
    { config: { auth: "none" } },
    async (req, reply) => {
      const { version, files } = await webBundle();
      const file = files.get(req.params.name);
      if (!file || req.params.version !== version) throw notFound("Asset");
      void reply
        .headers({
          ...SECURITY_HEADERS,
          "content-type": file.contentType,
          // The path changes with the content: cache for good.
          "cache-control": "public, max-age=31536000, immutable",
        })
        .send(file.body);
    },
  );
}

/** The same as a `RouteModule` for `ComposeOptions.routes` or `registerRoutes` in compose.ts. */
export function webRoutes(pusher: WebPusherConfigInput): RouteModule {
  return (app, deps) => registerWebRoutes(app, deps, { pusher });
}
