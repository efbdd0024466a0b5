import { randomUUID } from "node:crypto";
import { describe, expect, it, vi } from "vitest";
import { OutputClient } from "@drover/output-processor/client";
import { tokenFor } from "./helpers/env.js";
import { processorFixture } from "./helpers/watcher.js";

/** One sample of a metric from Prometheus' text format (first series). */
function sample(text: string, name: string): number {
  const m = new RegExp(`^${name}(?:\\{[^}]*\\})? ([0-9.e+-]+)$`, "m").exec(text);
  if (!m) throw new Error(`${name} missing from /metrics`);
  return Number(m[1]);
}

describe("output-processor status endpoints", () => {
  const { start, watcher } = processorFixture();

  it("answers /healthz, /readyz with each dependency, and Prometheus /metrics", async () => {
    const s = await start();
    const http = `http://127.0.0.1:${s.port}`;
    expect(await (await fetch(`${http}/healthz`)).text()).toBe("ok\n");
    const ready = await fetch(`${http}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({
      status: "ready",
      checks: { logStore: { ok: true, detail: "ok" }, pubSub: { ok: true, detail: "ok" } },
    });

    const before = await (await fetch(`${http}/metrics`)).text();
    const lines0 = sample(before, "drover_output_lines_stored_total");
    const jobId = `job-${randomUUID()}`;
    const taskId = `t-${randomUUID()}`;
    const w = watcher(s.port);
    w.watchJob(jobId);
    const c = new OutputClient({ url: s.url, token: tokenFor(taskId, jobId), taskId });
    await c.connect();
    for (let i = 0; i < 10; i++) c.write(0, "out", `line ${i}\n`);
    await c.flush();
    const res = await fetch(`${http}/metrics`);
    expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    expect(sample(text, "drover_output_lines_stored_total") - lines0).toBe(10);
    expect(sample(text, "drover_output_frames_stored_total")).toBeGreaterThanOrEqual(1);
    expect(sample(text, "drover_output_agent_connections")).toBe(1);
    await vi.waitFor(async () =>
      expect(
        sample(
          await (await fetch(`${http}/metrics`)).text(),
          "drover_output_subscriber_connections",
        ),
      ).toBeGreaterThanOrEqual(1),
    );
    expect(text).toMatch(/^drover_output_process_cpu_user_seconds_total /m);
    await c.close();
  });
});
