import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { INGEST_PATH, createMasker, type LogEntry } from "@drover/output-processor";
import { READ_TOKEN, startProcessor, tempDir, tokenFor, type Started } from "../helpers/env.js";
import { TOOL_FORMS, TRICKY_SECRETS } from "../helpers/secret-forms.js";

/** The forms sent through the ingest server (each split at every offset). */
const FORMS = [
  "base64 (GNU, wrapped at 76)",
  "xxd -p (lowercase hex at 60)",
  "bash set -x",
  "printf %q",
  "encodeURIComponent, lowercase hex",
  "python json.dumps",
];

describe("ingest masks a secret split between two frames", () => {
  let dir: { dir: string; cleanup: () => Promise<void> };
  let s: Started;
  beforeAll(async () => {
    dir = await tempDir();
    s = await startProcessor({ dataDir: dir.dir }, async () => [...TRICKY_SECRETS]);
  });
  afterAll(async () => {
    await s.op.close();
    await dir.cleanup();
  });

  it("at every offset, in every form, for every tricky secret", async () => {
    const taskId = `t-${randomUUID()}`;
    // One step per (printed form, cut): its text arrives as two frames cut there.
    const steps: string[] = [];
    const frames: object[] = [];
    let seq = 0;
    for (const secret of TRICKY_SECRETS) {
      for (const form of TOOL_FORMS.filter((f) => FORMS.includes(f.name))) {
        const printed = form.output(secret);
        if (printed === null) continue;
        for (let cut = 1; cut < printed.length; cut++) {
          const step = steps.push(printed) - 1;
          for (const data of [printed.slice(0, cut), printed.slice(cut)]) {
            frames.push({ kind: "output", seq: ++seq, ts: 1, step, stream: "out", data });
          }
          frames.push({
            kind: "step_finished",
            seq: ++seq,
            ts: 1,
            step,
            exitCode: 0,
            status: "success",
          });
        }
      }
    }
    expect(steps.length).toBeGreaterThan(1000);

    const ws = new WebSocket(`${s.url}${INGEST_PATH}`);
    const messages: Array<{ type: string; seq?: number }> = [];
    ws.on("message", (d) => messages.push(JSON.parse(d.toString()) as { type: string }));
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    ws.send(
      JSON.stringify({
        type: "hello",
        protocol: 1,
        token: tokenFor(taskId, "job-1"),
        task: taskId,
      }),
    );
    for (let i = 0; i < frames.length; i += 1000) {
      ws.send(JSON.stringify({ type: "frames", task: taskId, frames: frames.slice(i, i + 1000) }));
    }
    await expect.poll(() => messages.at(-1)?.seq, { timeout: 60_000 }).toBe(seq);
    ws.close();

    const res = await fetch(
      `http://127.0.0.1:${s.port}/output/v1/tasks/${taskId}/log?format=jsonl`,
      {
        headers: { authorization: `Bearer ${READ_TOKEN}` },
      },
    );
    const stored = Array.from<string[]>({ length: steps.length }, () => []);
    for (const line of (await res.text()).trim().split("\n")) {
      const e = JSON.parse(line) as LogEntry;
      if (e.kind === "output") stored[e.step]?.push(e.data);
      if (e.kind === "step_finished" && e.tail) stored[e.step]?.push(e.tail);
    }
    const masker = createMasker(TRICKY_SECRETS);
    steps.forEach((printed, step) => {
      const masked = masker.maskAll(printed);
      expect(masked).toContain("****");
      expect(stored[step]?.join(""), `step ${step}: ${JSON.stringify(printed)}`).toBe(masked);
    });
  });
});
