import type { FastifyInstance } from "fastify";
import type { AuditContext } from "../../audit/events.js";
import { ControlPlaneError, invalid, notFound } from "../../model/errors.js";
import { findProjectsByRepo } from "../../model/projects.js";
import type { Project } from "../../model/records.js";
import {
  parseGithubPush,
  parseGitlabPush,
  verifyGithubSignature,
  verifyGitlabToken,
  type PushEvent,
} from "../../webhooks/push.js";
import { presentTriggeredPipeline } from "../present.js";
import { systemAuditOf } from "./audit-context.js";
import type { CoreRouteDeps } from "./deps.js";

const GITHUB_VCS = ["gh", "github"];
const GITLAB_VCS = ["gl", "gitlab"];

function json(raw: Buffer): unknown {
  try {
    return JSON.parse(raw.toString("utf8"));
  } catch {
    throw invalid("webhook body is not JSON", [{ field: "body", message: "invalid JSON" }]);
  }
}

/**
 * `POST /hooks/github` and `POST /hooks/gitlab`: a push of a branch or tag triggers a pipeline
 * of the project whose slug is `<gh|github|gl|gitlab>/<repository path>`. The body is kept raw
 * so the GitHub HMAC covers exactly the bytes sent.
 */
export async function registerHookRoutes(app: FastifyInstance, deps: CoreRouteDeps): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

    const fire = (push: PushEvent, project: Project, audit: AuditContext) =>
      deps.trigger.trigger({
        audit,
        project,
        triggerType: "webhook",
        actorId: null,
        ...(push.tag ? { tag: push.tag } : { branch: push.branch ?? "" }),
        revision: push.revision,
      });

    scope.post("/hooks/github", { config: { auth: "none" } }, async (req, reply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const event = req.headers["x-github-event"];
      const body = json(raw);
      const fullName = (body as { repository?: { full_name?: unknown } }).repository?.full_name;
      if (typeof fullName !== "string") {
        throw invalid("missing repository.full_name", [
          { field: "repository.full_name", message: "required" },
        ]);
      }
      const projects = await findProjectsByRepo(deps.db, GITHUB_VCS, fullName);
      if (projects.length === 0) throw notFound("Project");
      const signature = req.headers["x-hub-signature-256"];
      const project = projects.find((p) =>
        verifyGithubSignature(
          raw,
          p.webhookSecret,
          typeof signature === "string" ? signature : undefined,
        ),
      );
      if (!project) {
        throw new ControlPlaneError(
          "DROVER_ERR_WEBHOOK_SIGNATURE",
          "X-Hub-Signature-256 does not match",
        );
      }
      if (event === "ping") return { message: "pong" };
      if (event !== "push")
        return reply.code(202).send({ message: `ignored event ${String(event)}` });
      const push = parseGithubPush(body);
      if (!push || push.deleted) return reply.code(202).send({ message: "nothing to build" });
      const p = await fire(push, project, systemAuditOf(req, "github-webhook"));
      return reply.code(201).send(presentTriggeredPipeline(p));
    });

    scope.post("/hooks/gitlab", { config: { auth: "none" } }, async (req, reply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const body = json(raw);
      const fullName = (body as { project?: { path_with_namespace?: unknown } }).project
        ?.path_with_namespace;
      if (typeof fullName !== "string") {
        throw invalid("missing project.path_with_namespace", [
          { field: "project.path_with_namespace", message: "required" },
        ]);
      }
      const projects = await findProjectsByRepo(deps.db, GITLAB_VCS, fullName);
      if (projects.length === 0) throw notFound("Project");
      const token = req.headers["x-gitlab-token"];
      const project = projects.find((p) =>
        verifyGitlabToken(p.webhookSecret, typeof token === "string" ? token : undefined),
      );
      if (!project)
        throw new ControlPlaneError(
          "DROVER_ERR_WEBHOOK_SIGNATURE",
          "X-Gitlab-Token does not match",
        );
      const event = req.headers["x-gitlab-event"];
      if (event !== "Push Hook" && event !== "Tag Push Hook") {
        return reply.code(202).send({ message: `ignored event ${String(event)}` });
      }
      const push = parseGitlabPush(body);
      if (!push || push.deleted) return reply.code(202).send({ message: "nothing to build" });
      const p = await fire(push, project, systemAuditOf(req, "gitlab-webhook"));
      return reply.code(201).send(presentTriggeredPipeline(p));
    });
  });
}
