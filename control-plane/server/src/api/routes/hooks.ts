import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ControlPlaneError, invalid, notFound } from "../../model/errors.js";
import { findProjectsByRepo } from "../../model/projects.js";
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

/**
 * The delivery's JSON: the body itself, or, for GitHub's `application/x-www-form-urlencoded`
 * content type, its `payload` field. The signature covers the raw bytes either way.
 */
function payloadOf(raw: Buffer, contentType: string | undefined): unknown {
  let text = raw.toString("utf8");
  if (contentType?.split(";")[0]?.trim().toLowerCase() === "application/x-www-form-urlencoded") {
    const payload = new URLSearchParams(text).get("payload");
    if (payload === null) {
      throw invalid("form-encoded webhook has no payload field", [
        { field: "payload", message: "required" },
      ]);
    }
    text = payload;
  }
  try {
    return JSON.parse(text);
  } catch {
    throw invalid("webhook body is not JSON", [{ field: "body", message: "invalid JSON" }]);
  }
}

/** What tells one forge's push deliveries apart. */
interface Forge {
  vcs: string[];
  /** Where the repository path is in the payload (for errors). */
  nameField: string;
  nameOf(body: unknown): unknown;
  /** Whether the delivery proves it knows `secret` (a project's webhook secret). */
  verify(raw: Buffer, secret: string, headers: FastifyRequest["headers"]): boolean;
  signatureHeader: string;
  /** `push` to build, `pong` to answer a ping, or an event name to ignore. */
  classify(headers: FastifyRequest["headers"]): "push" | "pong" | string;
  parse(body: unknown): PushEvent | null;
  actor: string;
}

const header = (h: FastifyRequest["headers"], name: string): string | undefined => {
  const v = h[name];
  return typeof v === "string" ? v : undefined;
};

const GITHUB: Forge = {
  vcs: GITHUB_VCS,
  nameField: "repository.full_name",
  nameOf: (b) => (b as { repository?: { full_name?: unknown } }).repository?.full_name,
  verify: (raw, secret, h) => verifyGithubSignature(raw, secret, header(h, "x-hub-signature-256")),
  signatureHeader: "X-Hub-Signature-256",
  classify: (h) => {
    const event = String(h["x-github-event"]);
    return event === "ping" ? "pong" : event;
  },
  parse: parseGithubPush,
  actor: "github-webhook",
};

const GITLAB: Forge = {
  vcs: GITLAB_VCS,
  nameField: "project.path_with_namespace",
  nameOf: (b) =>
    (b as { project?: { path_with_namespace?: unknown } }).project?.path_with_namespace,
  verify: (_raw, secret, h) => verifyGitlabToken(secret, header(h, "x-gitlab-token")),
  signatureHeader: "X-Gitlab-Token",
  classify: (h) => {
    const event = String(h["x-gitlab-event"]);
    return event === "Push Hook" || event === "Tag Push Hook" ? "push" : event;
  },
  parse: parseGitlabPush,
  actor: "gitlab-webhook",
};

/**
 * `POST /hooks/github` and `POST /hooks/gitlab`: a push of a branch or tag triggers a pipeline
 * of the project whose slug is `<gh|github|gl|gitlab>/<repository path>`. The body is kept raw
 * so the GitHub HMAC covers exactly the bytes sent.
 */
export async function registerHookRoutes(app: FastifyInstance, deps: CoreRouteDeps): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

    const handle = async (forge: Forge, req: FastifyRequest, reply: FastifyReply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const body = payloadOf(raw, req.headers["content-type"]);
      const fullName = forge.nameOf(body);
      if (typeof fullName !== "string") {
        throw invalid(`missing ${forge.nameField}`, [
          { field: forge.nameField, message: "required" },
        ]);
      }
      const projects = await findProjectsByRepo(deps.db, forge.vcs, fullName);
      if (projects.length === 0) throw notFound("Project");
      const project = projects.find((p) => forge.verify(raw, p.webhookSecret, req.headers));
      if (!project) {
        throw new ControlPlaneError(
          "DROVER_ERR_WEBHOOK_SIGNATURE",
          `${forge.signatureHeader} does not match`,
        );
      }
      const kind = forge.classify(req.headers);
      if (kind === "pong") return { message: "pong" };
      if (kind !== "push") return reply.code(202).send({ message: `ignored event ${kind}` });
      const push = forge.parse(body);
      if (!push || push.deleted) return reply.code(202).send({ message: "nothing to build" });
      const p = await deps.trigger.trigger({
        audit: systemAuditOf(req, forge.actor),
        project,
        triggerType: "webhook",
        actorId: null,
        ...(push.tag ? { tag: push.tag } : { branch: push.branch ?? "" }),
        revision: push.revision,
      });
      return reply.code(201).send(presentTriggeredPipeline(p));
    };

    scope.post("/hooks/github", { config: { auth: "none" } }, (req, reply) =>
      handle(GITHUB, req, reply),
    );
    scope.post("/hooks/gitlab", { config: { auth: "none" } }, (req, reply) =>
      handle(GITLAB, req, reply),
    );
  });
}
