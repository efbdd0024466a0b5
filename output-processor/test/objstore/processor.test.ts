import { randomUUID } from "node:crypto";
import { access } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { outputConfigFromEnv } from "@drover/output-processor";
import { OutputClient } from "@drover/output-processor/client";
import { readLog, startProcessor, tempDir, tokenFor, type Started } from "../helpers/env.js";
import { s3Target, type S3Target } from "./target.js";

describe("output-processor with object storage", () => {
  let t: S3Target;
  const cleanups: (() => Promise<void>)[] = [];
  beforeEach(async () => {
    t = await s3Target();
  });
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
    await t.close();
  });

  async function processor(): Promise<Started & { dataDir: string }> {
    const d = await tempDir();
    const s = await startProcessor({ dataDir: d.dir, objectStore: t.config });
    cleanups.push(d.cleanup, () => s.op.close());
    return { ...s, dataDir: d.dir };
  }

  it("archives a task when its agent leaves; another instance with its own spool serves it", async () => {
    const a = await processor();
    const taskId = `t-${randomUUID()}`;
    const c = new OutputClient({ url: a.url, token: tokenFor(taskId, "job-1"), taskId });
    await c.connect();
    let expected = "";
    for (let i = 0; i < 3000; i++) {
      const line = `line ${i} ${"y".repeat(i % 50)}\n`;
      expected += line;
      c.write(0, "out", line);
    }
    c.taskFinished("success");
    await c.flush();
    await c.close();
    expect(await readLog(a.port, taskId)).toBe(expected);
    await vi.waitFor(
      async () =>
        expect(await t.client.head(`tasks/${taskId}/index.json`), "index archived").not.toBeNull(),
      { timeout: 10_000 },
    );
    await vi.waitFor(
      () =>
        expect(access(join(a.dataDir, "tasks", taskId)), "spool copy deleted").rejects.toThrow(),
      { timeout: 10_000 },
    );
    const b = await processor();
    expect(await readLog(b.port, taskId)).toBe(expected);
    expect(await readLog(b.port, taskId, "?fromByte=100&toByte=2000")).toBe(
      expected.slice(100, 2000),
    );
    const tail = await readLog(b.port, taskId, "?tail=500");
    expect(tail).toMatch(/^\[drover: [\d,]+ bytes of earlier output/);
    expect(tail.endsWith(expected.slice(-500))).toBe(true);
    expect(await readLog(a.port, taskId)).toBe(expected);
  });
});

describe("object storage config", () => {
  const base = {
    DROVER_PUSHER_APP_KEY: "k",
    DROVER_PUSHER_APP_SECRET: "0123456789abcdef0123",
  };

  it("reads DROVER_OUTPUT_S3_* and AWS_* into an objectStore block", () => {
    const c = outputConfigFromEnv({
      ...base,
      DROVER_OUTPUT_S3_ENDPOINT: "http://127.0.0.1:9000/",
      DROVER_OUTPUT_S3_BUCKET: "drover-logs",
      DROVER_OUTPUT_S3_PREFIX: "ci/logs",
      AWS_REGION: "eu-west-1",
      AWS_ACCESS_KEY_ID: "AKID",
      AWS_SECRET_ACCESS_KEY: "secret",
    });
    expect(c.objectStore).toMatchObject({
      endpoint: "http://127.0.0.1:9000",
      bucket: "drover-logs",
      prefix: "ci/logs/",
      region: "eu-west-1",
      accessKeyId: "AKID",
      keepLocal: false,
    });
    expect(outputConfigFromEnv(base).objectStore).toBeUndefined();
  });

  it("says what is wrong with an incomplete or bad block", () => {
    expect(() =>
      outputConfigFromEnv({
        ...base,
        DROVER_OUTPUT_S3_ENDPOINT: "ftp://example/x",
        DROVER_OUTPUT_S3_BUCKET: "Bad_Bucket",
      }),
    ).toThrow(
      /DROVER_ERR_OUTPUT_CONFIG|objectStore\.endpoint: must be an http\(s\) URL.*objectStore\.bucket/,
    );
    try {
      outputConfigFromEnv({
        ...base,
        DROVER_OUTPUT_S3_ENDPOINT: "http://s3.local",
        DROVER_OUTPUT_S3_BUCKET: "drover-logs",
        AWS_ACCESS_KEY_ID: "AKIAONLYHALF",
      });
    } catch (err) {
      expect((err as { code?: string }).code).toBe("DROVER_ERR_OUTPUT_CONFIG");
      expect((err as Error).message).toMatch(
        /objectStore\.secretAccessKey: static keys come in pairs/,
      );
      return;
    }
    throw new Error("expected a config error");
  });

  it("takes credentials from the SDK's chain when no static keys are set", () => {
    const c = outputConfigFromEnv({
      ...base,
      DROVER_OUTPUT_S3_ENDPOINT: "http://s3.local",
      DROVER_OUTPUT_S3_BUCKET: "drover-logs",
    });
    expect(c.objectStore).toMatchObject({ endpoint: "http://s3.local", bucket: "drover-logs" });
    expect(c.objectStore?.accessKeyId).toBeUndefined();
  });
});
