import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { Redis } from "ioredis";
import {
  HmacTaskTokenVerifier,
  createOutputProcessor,
  signOutputToken,
  type OutputConfigInput,
  type OutputProcessor,
  type StoredFrame,
} from "@drover/output-processor";

export const REDIS_URL = process.env.DROVER_TEST_REDIS_URL ?? "redis://127.0.0.1:6379";
export const TOKEN_SECRET = "test-token-secret-0123456789";
export const APP_KEY = "drover-test-key";
export const APP_SECRET = "drover-test-app-secret-0123456789";
export const READ_TOKEN = "reader-token";

export const logger = pino({ level: process.env.DROVER_TEST_LOG ?? "silent" });

/** Fails loudly when Redis is missing (tests never skip for it). */
export async function assertRedis(): Promise<void> {
  const r = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 1 });
  try {
    await r.connect();
    await r.ping();
  } finally {
    r.disconnect();
  }
}

export async function tempDir(): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), "drover-op-"));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

export function tokenFor(taskId: string, jobId: string, projectId = "proj-1"): string {
  return signOutputToken(TOKEN_SECRET, {
    taskId,
    jobId,
    projectId,
    expiresAt: Date.now() + 3_600_000,
  });
}

export interface Started {
  op: OutputProcessor;
  url: string;
  port: number;
}

export async function startProcessor(
  overrides: Partial<OutputConfigInput> & { dataDir: string },
  secretsFor?: (taskId: string) => Promise<string[]>,
): Promise<Started> {
  const op = createOutputProcessor(
    {
      port: 0,
      host: "127.0.0.1",
      pusher: { appKey: APP_KEY, appSecret: APP_SECRET },
      ...overrides,
    },
    {
      logger,
      verifier: new HmacTaskTokenVerifier(TOKEN_SECRET, secretsFor),
      authorizeRead: async (req) => req.headers.authorization === `Bearer ${READ_TOKEN}`,
    },
  );
  const port = await op.listen();
  return { op, port, url: `ws://127.0.0.1:${port}` };
}

export function uniquePrefix(): string {
  return `test-${randomUUID()}:`;
}

export async function readLog(port: number, taskId: string, query = ""): Promise<string> {
  const res = await fetch(`http://127.0.0.1:${port}/output/v1/tasks/${taskId}/log${query}`, {
    headers: { authorization: `Bearer ${READ_TOKEN}` },
  });
  if (res.status !== 200) throw new Error(`log read ${res.status}: ${await res.text()}`);
  return res.text();
}

/** `n` output frames from seq `from`, each one line of `size` bytes that starts with its seq. */
export function frames(from: number, n: number, size = 100): StoredFrame[] {
  const out: StoredFrame[] = [];
  for (let i = 0; i < n; i++) {
    const seq = from + i;
    out.push({
      kind: "output",
      seq,
      ts: seq,
      step: 0,
      stream: "out",
      data: `${String(seq).padStart(8, "0")}${"x".repeat(size - 9)}\n`,
    });
  }
  return out;
}
