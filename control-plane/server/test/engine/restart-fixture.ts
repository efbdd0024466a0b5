/**
 * What both restart tests share: a three-job workflow whose middle job `b` holds its step until
 * the test lets it go, so the control plane can go down while `b` is mid-step, and a wait for
 * `b`'s agent to have tried (and failed) to report to the downed control plane.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { expect, vi } from "vitest";

/** Long enough for agents and control planes to start on a busy machine. */
export const WAIT = { timeout: 60_000, interval: 100 };

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as { port: number }).port;
  await new Promise((r) => srv.close(r));
  return port;
}

export interface GatedWorkflow {
  /** `.circleci/config.yml`: a, then b (its step held by the test), then c (`parallelism` nodes). */
  config: string;
  /** Resolves once b's step runs (its agent has reported the step started). */
  stepStarted(): Promise<void>;
  /** Lets b's step finish; resolves once the step has read the gate. */
  openGate(): Promise<void>;
}

/**
 * b's step talks to the test through two FIFOs: it writes `started` (which waits for the test to
 * read), then reads `gate` (which waits for the test to write). Opening a FIFO waits for the
 * other end, so both sides are awaited events; `timeout` ends a step whose test is gone.
 */
export function gatedWorkflow(cParallelism = 1): GatedWorkflow {
  const dir = mkdtempSync(join(tmpdir(), "drover-gate-"));
  const started = join(dir, "started");
  const gate = join(dir, "gate");
  execFileSync("mkfifo", [started, gate]);
  const step = `timeout 120 sh -c 'echo started > ${started}' && timeout 120 cat ${gate} >/dev/null && echo b`;
  const config = `version: 2.1
jobs:
  a: {docker: [{image: x}], steps: [{run: "echo a"}]}
  b: {docker: [{image: x}], steps: [{run: "${step}"}]}
  c: {docker: [{image: x}], parallelism: ${cParallelism}, steps: [{run: "echo c $CIRCLE_NODE_INDEX"}]}
workflows:
  w:
    jobs: [a, {b: {requires: [a]}}, {c: {requires: [b]}}]
`;
  return {
    config,
    stepStarted: async () => void (await readFile(started)),
    openGate: () => writeFile(gate, "go\n"),
  };
}

/**
 * Waits until job `name`'s agent (the fake agent, logging to `<dataDir>/agents/<taskId>.log`)
 * has retried a call to the control plane: it reported while no control plane was listening.
 */
export async function agentRetried(dataDir: string, name: string): Promise<void> {
  const dir = join(dataDir, "agents");
  const claimed = new RegExp(`claimed \\S+ ${name} node`);
  await vi.waitFor(() => {
    const logs = readdirSync(dir)
      .filter((f) => f.endsWith(".log"))
      .map((f) => readFileSync(join(dir, f), "utf8"))
      .filter((text) => claimed.test(text));
    expect(logs.some((text) => text.includes("retrying /internal/v1/tasks/"))).toBe(true);
  }, WAIT);
}
