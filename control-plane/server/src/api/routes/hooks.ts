import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { ControlPlaneError, invalid } from "../../model/errors.js";
import { getPipeline } from "../../model/pipelines.js";
import { findProjectsByRepo } from "../../model/projects.js";
import type { Project } from "../../model/records.js";
import {
  deliveryOf,
  pipelineOfDelivery,
  recordDelivery,
  type Delivery,
} from "../../webhooks/deliveries.js";
import {
  parseGithubPush,
  parseGitlabPush,
  verifyGithubSignature,
  verifyGitlabToken,
  type PushEvent,
} from "../../webhooks/push.js";
import { assertPgStorable } from "../input.js";
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
  name: Delivery["forge"];
  vcs: string[];
  /** Where the repository path is in the payload (for errors). */
  nameField: string;
  nameOf(body: unknown): unknown;
  /** Whether the delivery proves it knows `secret` (a project's webhook secret). */
  verify(raw: Buffer, secret: string, headers: FastifyRequest["headers"]): boolean;
  signatureHeader: string;
  /** The header naming the delivery (the same on the forge's redeliveries). */
  deliveryHeader: string;
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
  name: "github",
  vcs: GITHUB_VCS,
  nameField: "repository.full_name",
  nameOf: (b) => (b as { repository?: { full_name?: unknown } }).repository?.full_name,
  verify: (raw, secret, h) => verifyGithubSignature(raw, secret, header(h, "x-hub-signature-256")),
  signatureHeader: "X-Hub-Signature-256",
  deliveryHeader: "X-GitHub-Delivery",
  classify: (h) => {
    const event = String(h["x-github-event"]);
    return event === "ping" ? "pong" : event;
  },
  parse: parseGithubPush,
  actor: "github-webhook",
};

const GITLAB: Forge = {
  name: "gitlab",
  vcs: GITLAB_VCS,
  nameField: "project.path_with_namespace",
  nameOf: (b) =>
    (b as { project?: { path_with_namespace?: unknown } }).project?.path_with_namespace,
  verify: (_raw, secret, h) => verifyGitlabToken(secret, header(h, "x-gitlab-token")),
  signatureHeader: "X-Gitlab-Token",
  deliveryHeader: "X-Gitlab-Event-UUID",
  classify: (h) => {
    const event = String(h["x-gitlab-event"]);
    return event === "Push Hook" || event === "Tag Push Hook" ? "push" : event;
  },
  parse: parseGitlabPush,
  actor: "gitlab-webhook",
};

/** Thrown inside the pipeline's transaction when another request recorded the delivery first. */
class DeliveryTaken extends Error {}

const MAX_DELIVERY_ID = 200;

/**
 * `POST /hooks/github` and `POST /hooks/gitlab`: a push of a branch or tag triggers a pipeline
 * of the project whose slug is `<gh|github|gl|gitlab>/<repository path>`. The body is kept raw
 * so the GitHub HMAC covers exactly the bytes sent. An unknown repository and a wrong signature
 * get the same 401, so the endpoint does not tell which projects exist. A delivery that already
 * made a pipeline (see `webhooks/deliveries.ts`) gets that pipeline back with a 200, also when
 * the replay reaches another control plane at the same moment (the later transaction rolls
 * back; its pipeline number stays unused).
 */
export async function registerHookRoutes(app: FastifyInstance, deps: CoreRouteDeps): Promise<void> {
  await app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

    const replayed = async (req: FastifyRequest, reply: FastifyReply, pipelineId: string) => {
      const p = await getPipeline(deps.db, pipelineId);
      if (!p) throw new Error(`webhook delivery names pipeline ${pipelineId}, which is gone`);
      req.log.info({ pipelineId }, "webhook delivery replayed: answered with its pipeline");
      return reply.code(200).send(presentTriggeredPipeline(p));
    };

    const handle = async (forge: Forge, req: FastifyRequest, reply: FastifyReply) => {
      const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const body = payloadOf(raw, req.headers["content-type"]);
      const fullName = forge.nameOf(body);
      if (typeof fullName !== "string") {
        throw invalid(`missing ${forge.nameField}`, [
          { field: forge.nameField, message: "required" },
        ]);
      }
      assertPgStorable(fullName, forge.nameField);
      const projects = await findProjectsByRepo(deps.db, forge.vcs, fullName);
      const project: Project | undefined = projects.find((p) =>
        forge.verify(raw, p.webhookSecret, req.headers),
      );
      if (!project) {
        throw new ControlPlaneError(
          "DROVER_ERR_WEBHOOK_SIGNATURE",
          `${forge.signatureHeader} does not match the webhook secret of a project of this repository`,
        );
      }
      const kind = forge.classify(req.headers);
      if (kind === "pong") return { message: "pong" };
      if (kind !== "push") return reply.code(202).send({ message: `ignored event ${kind}` });
      const id = header(req.headers, forge.deliveryHeader.toLowerCase());
      if (id !== undefined && (id === "" || id.length > MAX_DELIVERY_ID)) {
        throw invalid(`${forge.deliveryHeader}: 1 to ${MAX_DELIVERY_ID} characters`, [
          { field: forge.deliveryHeader, message: `1 to ${MAX_DELIVERY_ID} characters` },
        ]);
      }
      const delivery = deliveryOf(forge.name, id, raw);
      const earlier = await pipelineOfDelivery(deps.db, project.id, delivery);
      if (earlier) return replayed(req, reply, earlier);
      const push = forge.parse(body);
      if (!push || push.deleted) return reply.code(202).send({ message: "nothing to build" });
      assertPgStorable(push, "payload");
      try {
        const p = await deps.trigger.trigger({
          audit: systemAuditOf(req, forge.actor),
          project,
          triggerType: "webhook",
          actorId: null,
          ...(push.tag ? { tag: push.tag } : { branch: push.branch ?? "" }),
          revision: push.revision,
          onStored: async (tx, pipeline) => {
            if (!(await recordDelivery(tx, project.id, delivery, pipeline.id))) {
              throw new DeliveryTaken();
            }
          },
        });
        return reply.code(201).send(presentTriggeredPipeline(p));
      } catch (err) {
        if (!(err instanceof DeliveryTaken)) throw err;
        const winner = await pipelineOfDelivery(deps.db, project.id, delivery);
        if (!winner)
          throw new Error("webhook delivery was recorded and then vanished", { cause: err });
        return replayed(req, reply, winner);
      }
    };

    scope.post("/hooks/github", { config: { auth: "none" } }, (req, reply) =>
      handle(GITHUB, req, reply),
    );
    scope.post("/hooks/gitlab", { config: { auth: "none" } }, (req, reply) =>
      handle(GITLAB, req, reply),
    );
  });
}
