/** The agent's output path into the real output-processor: ingest, masking, durable log. */
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createOutputProcessor, type OutputProcessor } from "@drover/output-processor";
import { runAgent } from "@drover/build-agent";
import { TaskServer } from "./helpers/task-server.js";
import { agentConfig, docker, logger, makeTask, requireDocker, run } from "./helpers/fixtures.js";

const server = new TaskServer();
let processor: OutputProcessor;
let dataDir: string;
beforeAll(async () => {
  await requireDocker();
  await server.start();
  dataDir = mkdtempSync(path.join(os.tmpdir(), "drover-output-"));
  processor = createOutputProcessor(
    {
      port: 0,
      host: "127.0.0.1",
      dataDir,
      pusher: { appKey: "k", appSecret: "0123456789abcdef0123" },
    },
    {
      logger,
      verifier: {
        verify: async (token) =>
          token.startsWith("ingest-")
            ? { taskId: token, jobId: "j", projectId: "p", secrets: [] }
            : null,
      },
      authorizeRead: async () => true,
    },
  );
  await processor.listen();
});
afterAll(async () => {
  await processor.close();
  await server.stop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Runs `spec` on a local agent whose output goes where `spec.output` says. */
function runWithProcessorOutput(spec: ReturnType<typeof makeTask>) {
  return runAgent({
    config: agentConfig(server, server.addTask(spec), { output: "processor" }),
    logger,
    signal: new AbortController().signal,
    docker,
  });
}

/** Runs a task whose output goes to the processor (as task `taskId`); returns its stored text. */
async function runToProcessor(
  taskId: string,
  fields: Parameters<typeof makeTask>[0],
): Promise<string> {
  const spec = makeTask({
    ...fields,
    output: { url: `http://127.0.0.1:${processor.port}`, token: taskId },
  });
  spec.taskId = taskId; // the test verifier grants the task named by the token
  expect((await runWithProcessorOutput(spec)).result).toBe("success");
  const res = await request(`http://127.0.0.1:${processor.port}/output/v1/tasks/${taskId}/raw`);
  expect(res.statusCode).toBe(200);
  return res.body.text();
}

describe("agent output to the output-processor", () => {
  it("streams masked step output that the processor stores", async () => {
    const text = await runToProcessor("ingest-ok", {
      steps: [run('echo "line one"; echo "the secret is $TOKEN"; echo err-line >&2')],
      environment: { project: { TOKEN: "hunter2-very-secret" }, contexts: {}, job: {} },
      secrets: ["hunter2-very-secret"],
    });
    expect(text).toContain("line one");
    expect(text).toContain("err-line");
    expect(text).toContain("the secret is ");
    expect(text).not.toContain("hunter2-very-secret");
  });
});

describe("agent output at full speed", () => {
  it("ships a step printing 42 MB as fast as it can, every line once and in order", async () => {
    const lines = 500_000;
    const text = await runToProcessor("ingest-bulk", {
      steps: [run(`seq 1 ${lines} | awk '{ printf "%08d %s\\n", $1, "${"x".repeat(74)}" }'`)],
    });
    const numbered = text.split("\n").filter((l) => /^\d{8} x{74}$/.test(l));
    expect(numbered).toHaveLength(lines);
    numbered.forEach((l, i) => {
      if (Number(l.slice(0, 8)) !== i + 1) throw new Error(`line ${i + 1} reads ${l.slice(0, 20)}`);
    });
  }, 120_000);
});

describe("agent output without an output-processor", () => {
  it("reports the result without waiting for acknowledgements that cannot come", async () => {
    const spec = makeTask({
      steps: [run("echo hi")],
      output: { url: "http://127.0.0.1:9", token: "nobody-listens" },
    });
    // It waited for acknowledgements forever before (the test timed out); now a 2 s grace. No
    // bound on the time here: speed goes in benchmarks, and a loaded host runs any job slowly.
    const outcome = await runWithProcessorOutput(spec);
    expect(outcome.result).toBe("success");
    expect(server.state(spec.taskId).events.at(-1)).toMatchObject({
      type: "task_finished",
      result: "success",
    });
  });
});
