import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import {
  RedisPubSub,
  projectChannel,
  redisProjectEventPublisher,
  type ProjectEventPublisher,
} from "@drover/output-processor";
import { REDIS_URL, assertRedis, uniquePrefix } from "./helpers/env.js";

describe("redisProjectEventPublisher", () => {
  const open: Array<ProjectEventPublisher | RedisPubSub> = [];
  beforeAll(assertRedis);
  afterEach(async () => {
    for (const o of open.splice(0)) await o.close();
  });

  it("publishes a workflow change on the project's backbone channel", async () => {
    const prefix = uniquePrefix();
    const sub = new RedisPubSub(REDIS_URL);
    const pub = redisProjectEventPublisher(REDIS_URL, { channelPrefix: prefix });
    open.push(sub, pub);
    const got: unknown[] = [];
    await sub.subscribe(projectChannel(prefix, "p1"), (m) => got.push(JSON.parse(m.toString())));
    const event = {
      kind: "workflow_changed",
      workflowId: "w1",
      pipelineId: "pl1",
      status: "running",
    } as const;
    await pub.publish("p1", event);
    await pub.publish("p2", { ...event, workflowId: "other" });
    await vi.waitFor(() => expect(got).toEqual([event]), { timeout: 5_000 });
  });
});
