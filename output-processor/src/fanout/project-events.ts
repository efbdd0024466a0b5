/**
 * Publishing on project channels from outside an output-processor: a control plane whose
 * output-processors run apart from it reaches their browsers through the shared Redis.
 */
import type { Logger } from "pino";
import { DEFAULT_CHANNEL_PREFIX } from "../config.js";
import { RedisPubSub } from "../pubsub/redis.js";
import { projectChannel, type ProjectEvent } from "./messages.js";

export interface ProjectEventPublisher {
  publish(projectId: string, event: ProjectEvent): Promise<void>;
  close(): Promise<void>;
}

/** A publisher on the Redis backbone at `redisUrl` (the output-processors' `REDIS_URL`). */
export function redisProjectEventPublisher(
  redisUrl: string,
  opts: { logger?: Logger; channelPrefix?: string } = {},
): ProjectEventPublisher {
  const pubsub = new RedisPubSub(redisUrl, opts.logger ? { logger: opts.logger } : {});
  const prefix = opts.channelPrefix ?? DEFAULT_CHANNEL_PREFIX;
  return {
    publish: (projectId, event) =>
      pubsub.publish(projectChannel(prefix, projectId), JSON.stringify(event)),
    close: () => pubsub.close(),
  };
}
