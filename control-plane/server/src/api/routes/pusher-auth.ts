import type { FastifyInstance } from "fastify";
import {
  JOB_CHANNEL_PREFIX,
  PROJECT_CHANNEL_PREFIX,
  signChannelAuth,
} from "@drover/output-processor";
import { z } from "zod";
import { canSeeProject } from "../../auth/principal.js";
import type { Database } from "../../db/types.js";
import { ControlPlaneError } from "../../model/errors.js";
import { jobById, isUuid } from "../access.js";
import { parse, principalOf } from "../server.js";

/** The Pusher app the output-processor serves (the secret never leaves the server). */
export interface PusherAuthConfig {
  appKey: string;
  appSecret: string;
}

const bodySchema = z.object({
  socket_id: z.string().regex(/^\d{1,12}\.\d{1,12}$/, "must be a Pusher socket id like 123.456"),
  channel_name: z
    .string()
    .min(1)
    .max(200)
    .regex(/^[\w\-=@,.;]+$/, "has characters a Pusher channel name cannot have"),
});

/**
 * The project a channel belongs to, or null for a channel nobody may join: `private-job-<jobId>`
 * (the job's project) and `private-project-<projectId>`.
 */
async function channelProject(db: Database, channel: string): Promise<string | null> {
  if (channel.startsWith(JOB_CHANNEL_PREFIX)) {
    const job = await jobById(db, channel.slice(JOB_CHANNEL_PREFIX.length));
    return job?.projectId ?? null;
  }
  if (channel.startsWith(PROJECT_CHANNEL_PREFIX)) {
    const id = channel.slice(PROJECT_CHANNEL_PREFIX.length);
    return isUuid(id) ? id : null;
  }
  return null;
}

/**
 * `POST /api/pusher/auth`: signs a browser's subscription to a private channel (Pusher's channel
 * authorization) for users who may see the channel's project. Takes what pusher-js sends
 * (form-encoded or JSON `socket_id`, `channel_name`); answers `{auth}`, 403 for a channel the user
 * may not see (unknown jobs alike), 400 for malformed input, 401 without a user.
 */
export function registerPusherAuthRoutes(
  app: FastifyInstance,
  deps: { db: Database; pusher: PusherAuthConfig },
): void {
  // Encapsulated: the form parser applies to this route only.
  void app.register(async (scope) => {
    scope.addContentTypeParser(
      "application/x-www-form-urlencoded",
      { parseAs: "string", bodyLimit: 16 * 1024 },
      (_req, body, done) => {
        done(null, Object.fromEntries(new URLSearchParams(body as string)));
      },
    );
    scope.post("/api/pusher/auth", { config: { auth: "user" } }, async (req, reply) => {
      const who = principalOf(req);
      const { socket_id, channel_name } = parse(bodySchema, req.body);
      const projectId = await channelProject(deps.db, channel_name);
      if (!projectId || !canSeeProject(who, projectId)) {
        throw new ControlPlaneError(
          "DROVER_ERR_FORBIDDEN",
          `You may not subscribe to ${channel_name}.`,
        );
      }
      void reply.header("cache-control", "no-store");
      return {
        auth: signChannelAuth(deps.pusher.appKey, deps.pusher.appSecret, socket_id, channel_name),
      };
    });
  });
}
