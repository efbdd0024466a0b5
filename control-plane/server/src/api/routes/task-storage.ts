import type { Readable } from "node:stream";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { z } from "zod";
import { statusOf, type ErrorCode } from "../../errors/index.js";
import { StorageError } from "../../storage/errors.js";
import type { TaskScope, TaskStorage } from "../../storage/task-storage.js";
import { testCaseSchema } from "@drover/task-api";
import { invalid } from "../../model/errors.js";
import { pgStorable } from "../input.js";

export interface TaskStorageRouteDeps {
  storage: TaskStorage;
  /** Resolves a task session (the Bearer token) to what the task may touch; null when invalid or final. */
  authenticateTask(taskId: string, session: string): Promise<TaskScope | null>;
  /**
   * The job with this project-wide number, if the request's user may see it (null -> 404). Called
   * on `/api/v2/...` routes, after the server's user authentication hook.
   */
  findJob(
    req: FastifyRequest,
    projectSlug: string,
    jobNumber: number,
  ): Promise<{ jobId: string } | null>;
  /** Public base URL of the API, for artifact links (e.g. `http://127.0.0.1:8080`). */
  baseUrl: string;
  /**
   * A signed, short-lived URL of an artifact (on its project's own origin, or presigned in object
   * storage), undefined when there is no such artifact; the download route redirects there.
   * Unset: the route serves the bytes itself, as an attachment.
   */
  artifactUrl?(
    slug: string,
    jobId: string,
    node: number,
    path: string,
  ): Promise<string | undefined>;
}

type TaskParams = { taskId: string };
type JobParams = { vcs: string; org: string; repo: string; number: string };

const testsBody = z.object({ tests: z.array(testCaseSchema).max(10_000) });

/** Answers `code` with its status from the error table. */
function fail(reply: FastifyReply, code: ErrorCode, message: string): FastifyReply {
  return reply.code(statusOf(code)).send({ message, code });
}

/**
 * The storage endpoints of the task API (artifacts, tests, caches, workspace; see
 * `task-api/contract.ts`) and the user-facing artifact and test listings. Task routes authenticate
 * the session themselves (`config.auth: "none"` for the server's hook) through
 * `deps.authenticateTask`. Raw bodies are streamed to the blob store, never buffered.
 */
export function registerTaskStorageRoutes(app: FastifyInstance, deps: TaskStorageRouteDeps): void {
  void app.register(async (scope) => {
    // Uploads are raw byte streams: hand the request stream through untouched (this scope only).
    scope.addContentTypeParser(
      ["application/octet-stream", "application/x-tar"],
      (_req, payload, done) => done(null, payload),
    );
    scope.addContentTypeParser("*", (_req, payload, done) => done(null, payload));

    const task = async (
      req: FastifyRequest<{ Params: TaskParams }>,
      reply: FastifyReply,
    ): Promise<TaskScope | undefined> => {
      const m = /^Bearer\s+(\S+)$/i.exec(req.headers.authorization ?? "");
      const found = m?.[1] ? await deps.authenticateTask(req.params.taskId, m[1]) : null;
      if (!found) {
        fail(reply, "DROVER_ERR_TASK_SESSION", "task session is invalid or the task is final");
        return undefined;
      }
      return found;
    };
    const none = { config: { auth: "none" as const } };
    const guard = async (reply: FastifyReply, fn: () => Promise<unknown>): Promise<unknown> => {
      try {
        return await fn();
      } catch (err) {
        if (err instanceof StorageError) return fail(reply, err.code, err.message);
        throw err;
      }
    };

    scope.put<{ Params: TaskParams; Querystring: { path?: string } }>(
      "/internal/v1/tasks/:taskId/artifacts",
      none,
      async (req, reply) => {
        const s = await task(req, reply);
        if (!s) return reply;
        const path = req.query.path;
        if (!path)
          return fail(reply, "DROVER_ERR_VALIDATION", "query parameter 'path' is required");
        return guard(reply, async () => {
          await deps.storage.putArtifact(s, path, req.body as Readable);
          return reply.code(201).send({ path });
        });
      },
    );

    scope.post<{ Params: TaskParams }>(
      "/internal/v1/tasks/:taskId/tests",
      { ...none, bodyLimit: 64 * 1024 * 1024 },
      async (req, reply) => {
        const s = await task(req, reply);
        if (!s) return reply;
        const body = await readJson(req.body);
        const parsed = testsBody.safeParse(body);
        const issues = [
          ...(parsed.error?.issues ?? []),
          ...(pgStorable.safeParse(body).error?.issues ?? []),
        ];
        if (!parsed.success || issues.length > 0) {
          return fail(
            reply,
            "DROVER_ERR_VALIDATION",
            `invalid tests body: ${issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`,
          );
        }
        await deps.storage.addTests(s, parsed.data.tests);
        return reply.code(204).send();
      },
    );

    scope.get<{ Params: TaskParams; Querystring: { keys?: string | string[] } }>(
      "/internal/v1/tasks/:taskId/caches",
      none,
      async (req, reply) => {
        const s = await task(req, reply);
        if (!s) return reply;
        const keys = [req.query.keys ?? []].flat();
        const key = await deps.storage.findCache(s.projectSlug, keys);
        if (!key) return fail(reply, "DROVER_ERR_NOT_FOUND", `no cache matches ${keys.join(", ")}`);
        return { key };
      },
    );

    scope.get<{ Params: TaskParams & { key: string } }>(
      "/internal/v1/tasks/:taskId/caches/:key",
      none,
      async (req, reply) => {
        const s = await task(req, reply);
        if (!s) return reply;
        const body = await deps.storage.getCache(s.projectSlug, req.params.key);
        if (!body) return fail(reply, "DROVER_ERR_NOT_FOUND", `no cache ${req.params.key}`);
        return reply.type("application/x-tar").send(body);
      },
    );

    scope.put<{ Params: TaskParams & { key: string } }>(
      "/internal/v1/tasks/:taskId/caches/:key",
      none,
      async (req, reply) => {
        const s = await task(req, reply);
        if (!s) return reply;
        return guard(reply, async () => {
          const stored = await deps.storage.putCache(s, req.params.key, req.body as Readable);
          if (!stored)
            return fail(
              reply,
              "DROVER_ERR_CONFLICT",
              `cache ${req.params.key} exists; cache keys are immutable`,
            );
          return reply.code(201).send({ key: req.params.key });
        });
      },
    );

    scope.put<{ Params: TaskParams }>(
      "/internal/v1/tasks/:taskId/workspace",
      none,
      async (req, reply) => {
        const s = await task(req, reply);
        if (!s) return reply;
        return guard(reply, async () => {
          const id = await deps.storage.putWorkspaceLayer(s, req.body as Readable);
          return reply.code(201).send({ id });
        });
      },
    );

    scope.get<{ Params: TaskParams }>(
      "/internal/v1/tasks/:taskId/workspace",
      none,
      async (req, reply) => {
        const s = await task(req, reply);
        if (!s) return reply;
        return { layers: await deps.storage.listWorkspaceLayers(s) };
      },
    );

    scope.get<{ Params: TaskParams & { layerId: string } }>(
      "/internal/v1/tasks/:taskId/workspace/:layerId",
      none,
      async (req, reply) => {
        const s = await task(req, reply);
        if (!s) return reply;
        const body = await deps.storage.getWorkspaceLayer(s, req.params.layerId);
        if (!body)
          return fail(reply, "DROVER_ERR_NOT_FOUND", `no workspace layer ${req.params.layerId}`);
        return reply.type("application/x-tar").send(body);
      },
    );

    const job = async (req: FastifyRequest<{ Params: JobParams }>, reply: FastifyReply) => {
      const p = req.params;
      const slug = `${p.vcs}/${p.org}/${p.repo}`;
      const number = Number(p.number);
      const found =
        Number.isInteger(number) && number > 0 ? await deps.findJob(req, slug, number) : null;
      if (!found) {
        fail(reply, "DROVER_ERR_NOT_FOUND", "Job not found");
        return undefined;
      }
      return { slug, number, jobId: found.jobId };
    };

    scope.get<{ Params: JobParams }>(
      "/api/v2/project/:vcs/:org/:repo/:number/artifacts",
      async (req, reply) => {
        const j = await job(req, reply);
        if (!j) return reply;
        const base = deps.baseUrl.replace(/\/$/, "");
        const items = (await deps.storage.listArtifacts(j.jobId)).map((a) => ({
          path: a.path,
          node_index: a.nodeIndex,
          url: `${base}/api/v2/project/${j.slug}/${j.number}/artifacts/${a.nodeIndex}/${a.path.split("/").map(encodeURIComponent).join("/")}`,
        }));
        return { items, next_page_token: null };
      },
    );

    scope.get<{ Params: JobParams & { node: string; "*": string } }>(
      "/api/v2/project/:vcs/:org/:repo/:number/artifacts/:node/*",
      async (req, reply) => {
        const j = await job(req, reply);
        if (!j) return reply;
        if (deps.artifactUrl) {
          const to = await deps.artifactUrl(
            j.slug,
            j.jobId,
            Number(req.params.node),
            req.params["*"],
          );
          if (!to) return fail(reply, "DROVER_ERR_NOT_FOUND", "Artifact not found");
          return reply.header("cache-control", "no-store").redirect(to, 302);
        }
        const found = await deps.storage.getArtifact(
          j.jobId,
          Number(req.params.node),
          req.params["*"],
        );
        if (!found) return fail(reply, "DROVER_ERR_NOT_FOUND", "Artifact not found");
        // Served as bytes, never rendered here: HTML belongs on a per-project origin.
        return reply
          .header("content-length", found.size)
          .header("x-content-type-options", "nosniff")
          .header("content-disposition", "attachment")
          .type("application/octet-stream")
          .send(found.body);
      },
    );

    scope.get<{ Params: JobParams; Querystring: { "page-token"?: string } }>(
      "/api/v2/project/:vcs/:org/:repo/:number/tests",
      async (req, reply) => {
        const j = await job(req, reply);
        if (!j) return reply;
        const token = req.query["page-token"] ?? "0";
        if (!/^(0|[1-9][0-9]{0,14})$/.test(token)) {
          throw invalid("invalid page token", [
            { field: "page-token", message: "not a valid page token" },
          ]);
        }
        const after = Number(token);
        const limit = 1000;
        const rows = await deps.storage.listTests(j.jobId, { after, limit });
        return {
          items: rows.map((t) => ({
            message: t.message ?? "",
            source: t.source,
            run_time: t.runTimeSeconds,
            file: t.file ?? "",
            result: t.result,
            name: t.name,
            classname: t.classname,
          })),
          next_page_token: rows.length === limit ? String(rows[rows.length - 1]?.id) : null,
        };
      },
    );
  });
}

async function readJson(body: unknown): Promise<unknown> {
  if (body && typeof (body as Readable).pipe === "function") {
    const chunks: Buffer[] = [];
    for await (const c of body as Readable) chunks.push(c as Buffer);
    try {
      return JSON.parse(Buffer.concat(chunks).toString("utf8"));
    } catch {
      return undefined;
    }
  }
  return body;
}
