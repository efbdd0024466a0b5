/**
 * The artifact server: serves artifacts at signed, short-lived URLs on each project's own origin,
 * never on the API's. HTML is rendered in a sandbox (an opaque origin: no cookies, no storage, no
 * credentialed calls to the API); everything else is a download. Altered or expired URLs, and a
 * URL presented on another project's host, are 403.
 */
import type { Readable } from "node:stream";
import Fastify, { type FastifyInstance, type FastifyReply } from "fastify";
import type { Logger } from "pino";
import { checkArtifactSignature, type ArtifactRef } from "./urls.js";

export interface ArtifactServerDeps {
  key: Buffer;
  logger: Logger;
  /** The artifact's bytes, or undefined when there is none. */
  getArtifact(
    jobId: string,
    node: number,
    path: string,
  ): Promise<{ body: Readable; size: number } | undefined>;
  now?: () => Date;
  /** Serve HTTPS with this PEM certificate and key. */
  https?: { cert: string; key: string };
}

const HTML = /\.(html?|xhtml)$/i;
const TYPES: Array<[RegExp, string]> = [
  [/\.xhtml$/i, "application/xhtml+xml"],
  [/\.html?$/i, "text/html; charset=utf-8"],
  [/\.(txt|log)$/i, "text/plain; charset=utf-8"],
  [/\.json$/i, "application/json"],
  [/\.png$/i, "image/png"],
  [/\.jpe?g$/i, "image/jpeg"],
  [/\.svg$/i, "image/svg+xml"],
  [/\.css$/i, "text/css"],
  [/\.js$/i, "text/javascript"],
];

/** A sandbox: scripts run, but in an opaque origin with nothing to steal and no one to call. */
export const ARTIFACT_CSP =
  "sandbox allow-scripts allow-forms allow-popups allow-modals; default-src 'self' 'unsafe-inline' data: blob:; " +
  "connect-src 'none'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'";

/** Builds the server (not listening). */
export function createArtifactServer(deps: ArtifactServerDeps): FastifyInstance {
  const app = Fastify({
    ...(deps.https ? { https: deps.https } : {}),
    loggerInstance: deps.logger.child({ unit: "artifacts" }),
  }) as unknown as FastifyInstance;
  const refuse = (reply: FastifyReply, status: number, message: string) =>
    reply
      .code(status)
      .header("content-type", "application/json")
      .send({ message, code: status === 404 ? "DROVER_ERR_NOT_FOUND" : "DROVER_ERR_FORBIDDEN" });

  app.get<{
    Params: { jobId: string; node: string; "*": string };
    Querystring: { expires?: string; sig?: string };
  }>("/artifacts/:jobId/:node/*", async (req, reply) => {
    const { jobId, node } = req.params;
    const path = req.params["*"];
    const label = (req.hostname.split(":")[0] ?? "").split(".")[0] ?? "";
    const expires = Number(req.query.expires);
    if (!/^[0-9a-f-]{36}$/i.test(jobId) || !/^\d{1,6}$/.test(node) || !Number.isInteger(expires)) {
      return refuse(reply, 403, "not a signed artifact URL");
    }
    const ref: ArtifactRef = { label, jobId, node: Number(node), path, expires };
    const now = Math.floor((deps.now?.() ?? new Date()).getTime() / 1000);
    const why = checkArtifactSignature(deps.key, ref, req.query.sig ?? "", now);
    if (why) return refuse(reply, 403, why);
    const found = await deps.getArtifact(jobId, ref.node, path);
    if (!found) return refuse(reply, 404, "artifact not found");
    const type = TYPES.find(([re]) => re.test(path))?.[1] ?? "application/octet-stream";
    void reply
      .header("content-length", found.size)
      .header("content-type", type)
      .header("x-content-type-options", "nosniff")
      .header("content-security-policy", ARTIFACT_CSP)
      .header("referrer-policy", "no-referrer")
      .header("cache-control", "private, max-age=60");
    if (!HTML.test(path)) {
      const name = path.split("/").pop() ?? "artifact";
      void reply.header(
        "content-disposition",
        `attachment; filename*=UTF-8''${encodeURIComponent(name)}`,
      );
    }
    return reply.send(found.body);
  });
  return app;
}
