import { describe, expect, it } from "vitest";
import { stepSchema, taskSpecSchema } from "@drover/task-api";

describe("task API contract", () => {
  it("accepts a run step and rejects one without a command", () => {
    const step = {
      type: "run",
      name: "test",
      when: "on_success",
      command: "true",
      environment: {},
      background: false,
      noOutputTimeoutMs: 600_000,
    };
    expect(stepSchema.parse(step)).toEqual(step);
    const { command: _command, ...without } = step;
    expect(stepSchema.safeParse(without).success).toBe(false);
  });

  it("requires a primary image for the docker executor", () => {
    const result = taskSpecSchema.shape.executor.safeParse({ type: "docker", images: [] });
    expect(result.success).toBe(false);
  });
});
