/**
 * A test double of the control plane's task API (see control-plane/task-api/src/contract.ts):
 * in-memory tasks, events, artifacts, tests, caches and workspace layers.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import {
  taskEventSchema,
  testCaseSchema,
  type TaskEvent,
  type TaskSpec,
  type TestCase,
} from "@drover/task-api";

interface TaskState {
  spec: TaskSpec;
  session: string;
  events: TaskEvent[];
  artifacts: Map<string, Buffer>;
  tests: TestCase[];
  final: boolean;
}

export class TaskServer {
  private server: Server | undefined;
  readonly tokens = new Map<string, TaskSpec>();
  readonly tasks = new Map<string, TaskState>();
  readonly caches = new Map<string, { body: Buffer; at: number }>();
  /** Workspace layers by workflow id. */
  readonly layers = new Map<string, Array<{ id: string; jobId: string; body: Buffer }>>();
  url = "";
  /** Resources (`caches`, `workspace`...) that answer 500, to simulate a broken control plane. */
  readonly broken = new Set<string>();
  private seq = 0;

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        res.statusCode = 500;
        res.end(String(err));
      });
    });
    await new Promise<void>((r) => this.server?.listen(0, "127.0.0.1", r));
    this.url = `http://127.0.0.1:${(this.server?.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()));
  }

  /** Registers a task; returns its single-use token. */
  addTask(spec: TaskSpec): string {
    const token = randomUUID();
    this.tokens.set(token, spec);
    return token;
  }

  state(taskId: string): TaskState {
    const s = this.tasks.get(taskId);
    if (!s) throw new Error(`task ${taskId} was never claimed`);
    return s;
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? "/", "http://x");
    const body = await readBody(req);
    const send = (status: number, json?: unknown): void => {
      res.statusCode = status;
      if (json !== undefined) res.setHeader("content-type", "application/json");
      res.end(json === undefined ? undefined : JSON.stringify(json));
    };
    if (req.method === "POST" && url.pathname === "/internal/v1/tasks/claim") {
      const { token } = JSON.parse(body.toString()) as { token: string };
      const spec = this.tokens.get(token);
      if (!spec) return send(401, { code: "DROVER_ERR_TASK_TOKEN", message: "bad token" });
      this.tokens.delete(token);
      const session = randomUUID();
      this.tasks.set(spec.taskId, {
        spec,
        session,
        events: [],
        artifacts: new Map(),
        tests: [],
        final: false,
      });
      return send(200, { task: spec, session });
    }
    const m = /^\/internal\/v1\/tasks\/([^/]+)\/([a-z]+)(?:\/(.+))?$/.exec(url.pathname);
    if (!m) return send(404, { message: "no route" });
    const task = this.tasks.get(decodeURIComponent(m[1] ?? ""));
    if (!task || req.headers.authorization !== `Bearer ${task.session}` || task.final) {
      return send(401, { code: "DROVER_ERR_TASK_SESSION" });
    }
    const resource = m[2];
    if (resource && this.broken.has(resource)) return send(500, { message: "broken on purpose" });
    const rest = m[3] ? decodeURIComponent(m[3]) : undefined;
    const workflow = task.spec.workflow.id;
    if (resource === "events" && req.method === "POST") {
      const events = (JSON.parse(body.toString()) as { events: unknown[] }).events.map((e) =>
        taskEventSchema.parse(e),
      );
      for (const e of events) {
        task.events.push(e);
        if (e.type === "task_finished") task.final = true;
      }
      return send(204);
    }
    if (resource === "artifacts" && req.method === "PUT") {
      const path = url.searchParams.get("path") ?? "";
      if (!safeArtifactPath(path))
        return send(400, {
          code: "DROVER_ERR_STORAGE_INVALID",
          message: `invalid artifact path '${path}'`,
        });
      task.artifacts.set(path.replace(/^\/+/, ""), body);
      return send(201);
    }
    if (resource === "tests" && req.method === "POST") {
      const tests = (JSON.parse(body.toString()) as { tests: unknown[] }).tests.map((t) =>
        testCaseSchema.parse(t),
      );
      task.tests.push(...tests);
      return send(204);
    }
    if (resource === "caches" && req.method === "GET" && !rest) {
      for (const k of url.searchParams.getAll("keys")) {
        const hits = [...this.caches.entries()]
          .filter(([key]) => key.startsWith(k))
          .sort((a, b) => b[1].at - a[1].at);
        if (hits[0]) return send(200, { key: hits[0][0] });
      }
      return send(404, { message: "no cache" });
    }
    if (resource === "caches" && req.method === "GET" && rest) {
      const c = this.caches.get(rest);
      if (!c) return send(404);
      res.statusCode = 200;
      return void res.end(c.body);
    }
    if (resource === "caches" && req.method === "PUT" && rest) {
      if (rest.length > 512)
        return send(400, {
          code: "DROVER_ERR_STORAGE_INVALID",
          message: "cache key must be 1-512 characters",
        });
      if (this.caches.has(rest)) return send(409, { message: "exists" });
      this.caches.set(rest, { body, at: ++this.seq });
      return send(201);
    }
    if (resource === "workspace" && req.method === "PUT") {
      const list = this.layers.get(workflow) ?? [];
      list.push({ id: randomUUID(), jobId: task.spec.job.id, body });
      this.layers.set(workflow, list);
      return send(201);
    }
    if (resource === "workspace" && req.method === "GET" && !rest) {
      const list = (this.layers.get(workflow) ?? []).filter((l) => l.jobId !== task.spec.job.id);
      return send(200, { layers: list.map((l) => ({ id: l.id })) });
    }
    if (resource === "workspace" && req.method === "GET" && rest) {
      const l = (this.layers.get(workflow) ?? []).find((x) => x.id === rest);
      if (!l) return send(404);
      res.statusCode = 200;
      return void res.end(l.body);
    }
    return send(404, { message: "no route" });
  }
}

/**
 * The control plane's artifact path rule (`SAFE_PATH` in control-plane/server/src/storage/
 * task-storage.ts at 7f19ada): leading slashes dropped, then 1-1024 characters, no empty, `.` or
 * `..` segment, no backslash or NUL.
 */
function safeArtifactPath(p: string): boolean {
  const clean = p.replace(/^\/+/, "");
  return (
    !!clean &&
    clean.length <= 1024 &&
    !clean.split("/").some((s) => !s || s === "." || s === "..") &&
    !/[\\\0]/.test(clean)
  );
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}
