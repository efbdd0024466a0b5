/**
 * The scheduler backend conformance suite: the rules written on `SchedulerBackend`
 * (src/scheduler/types.ts), run against every backend from one task-plan fixture. A backend
 * comes with a harness that knows its infrastructure and plays its agents; real backends run
 * `conformance-agent.mjs`, which claims its task here (`AgentDesk`) and exits when told.
 */
import { randomUUID } from "node:crypto";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import {
  SchedulerUnavailableError,
  type SchedulerBackend,
  type TaskPlan,
  type TaskState,
  type TaskStatusEvent,
} from "@drover/control-plane";

/** The agent every real backend runs in this suite. */
export const conformanceAgent = fileURLToPath(
  new URL("./fixtures/conformance-agent.mjs", import.meta.url),
);

/** What the suite needs from a backend and its infrastructure. */
export interface BackendHarness {
  /** A backend on this harness's infrastructure; a later call is the backend after a restart. */
  open(): Promise<SchedulerBackend>;
  /** A backend whose infrastructure cannot be reached, and what brings it back. */
  unavailable(): Promise<{ backend: SchedulerBackend; restore(): Promise<void> }>;
  /** Resolves once the task's agent runs (a backend without agents is told to report it). */
  started(taskId: string): Promise<void>;
  /** Ends the task's agent with this exit code. */
  finish(taskId: string, exitCode: number): Promise<void>;
  /** How many agents of the task have started. */
  starts(taskId: string): number;
  /** Whether the task's agent runs now. */
  running(taskId: string): boolean;
  /** What the task's agent was handed: its token and the output URL. */
  handed(taskId: string): { token: string; outputUrl: string } | undefined;
  close(): Promise<void>;
}

/** The one task plan every backend gets: unique ids per call, agents pointed at `desk`. */
export function taskPlan(controlPlaneUrl: string, over: Partial<TaskPlan> = {}): TaskPlan {
  const id = randomUUID();
  return {
    taskId: id,
    taskToken: `dtt_${randomUUID().replaceAll("-", "")}`,
    controlPlaneUrl,
    outputUrl: "http://127.0.0.1:9/output",
    project: { slug: `gh/conformance/${id.slice(0, 8)}`, name: "conformance" },
    pipeline: { id: randomUUID(), number: 3 },
    workflow: { id: randomUUID(), name: "build" },
    job: { id: randomUUID(), name: "test", number: 12, attempt: 1 },
    node: { index: 0, total: 1 },
    resourceClass: "small",
    executorType: "docker",
    sshEnabled: false,
    jobUrl: "http://127.0.0.1:9/jobs/12",
    ...over,
  };
}

interface Claim {
  plan: TaskPlan;
  token: string;
  outputUrl: string;
  res: http.ServerResponse;
  open: boolean;
}

/**
 * Stands in for the control plane's claim endpoint: an agent's claim (by its task token) is held
 * open while the agent runs and answered with the exit code the suite chooses; a claim closed
 * early means the agent died.
 */
export class AgentDesk {
  url = "";
  readonly #server = http.createServer((req, res) => void this.#claim(req, res));
  readonly #plans = new Map<string, TaskPlan>();
  readonly #claims = new Map<string, Claim[]>();
  readonly #waiters = new Set<() => void>();

  static async start(): Promise<AgentDesk> {
    const desk = new AgentDesk();
    await new Promise<void>((r) => desk.#server.listen(0, "127.0.0.1", () => r()));
    desk.url = `http://127.0.0.1:${(desk.#server.address() as AddressInfo).port}`;
    return desk;
  }

  /** A task plan whose agent claims here. */
  plan(over: Partial<TaskPlan> = {}): TaskPlan {
    const p = taskPlan(this.url, over);
    this.#plans.set(p.taskToken, p);
    return p;
  }

  starts(taskId: string): number {
    return this.#claims.get(taskId)?.length ?? 0;
  }

  running(taskId: string): boolean {
    return (this.#claims.get(taskId) ?? []).some((c) => c.open);
  }

  /** What the task's first agent claimed with. */
  handed(taskId: string): { token: string; outputUrl: string } | undefined {
    const c = this.#claims.get(taskId)?.[0];
    return c && { token: c.token, outputUrl: c.outputUrl };
  }

  /** Resolves once `check` holds, re-checked on every claim and agent exit. */
  until(check: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const test = (): void => {
        if (!check()) return;
        this.#waiters.delete(test);
        resolve();
      };
      this.#waiters.add(test);
      test();
    });
  }

  started(taskId: string): Promise<void> {
    return this.until(() => this.starts(taskId) > 0);
  }

  /** Answers the task's open claims: its agents exit with this code. */
  finish(taskId: string, exitCode: number): void {
    for (const c of this.#claims.get(taskId) ?? []) {
      if (!c.open) continue;
      c.open = false;
      c.res.writeHead(200, { "content-type": "application/json" });
      c.res.end(JSON.stringify({ exitCode }));
    }
    this.#wake();
  }

  async close(): Promise<void> {
    for (const id of this.#claims.keys()) this.finish(id, 0);
    this.#server.closeAllConnections();
    await new Promise<void>((r) => this.#server.close(() => r()));
  }

  async #claim(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString() || "{}") as {
      token?: string;
      outputUrl?: string;
    };
    const plan = this.#plans.get(body.token ?? "");
    if (req.url !== "/internal/v1/tasks/claim" || !plan) {
      res.writeHead(401).end();
      return;
    }
    const claim: Claim = {
      plan,
      token: body.token ?? "",
      outputUrl: body.outputUrl ?? "",
      res,
      open: true,
    };
    const list = this.#claims.get(plan.taskId) ?? [];
    list.push(claim);
    this.#claims.set(plan.taskId, list);
    res.once("close", () => {
      claim.open = false;
      this.#wake();
    });
    this.#wake();
  }

  #wake(): void {
    for (const w of [...this.#waiters]) w();
  }
}

/** Collects a backend's events. */
class Watcher {
  readonly events: TaskStatusEvent[] = [];
  readonly unwatch: () => void;

  constructor(backend: SchedulerBackend) {
    this.unwatch = backend.watch((e) => this.events.push(e));
  }

  states(taskId: string): TaskState[] {
    return this.events.filter((e) => e.taskId === taskId).map((e) => e.status);
  }

  /** Waits for a state of the task that matches. */
  reached(taskId: string, match: (s: TaskState) => boolean, what: string): Promise<TaskState> {
    return vi.waitFor(
      () => {
        const s = this.states(taskId).find(match);
        if (!s)
          throw new Error(`${taskId}: no ${what} yet (${JSON.stringify(this.states(taskId))})`);
        return s;
      },
      { timeout: 20_000, interval: 10 },
    );
  }
}

const isFinal = (s: TaskState): boolean => s.state === "finished" || s.state === "lost";
const RANK: Record<TaskState["state"], number> = { queued: 0, running: 1, finished: 2, lost: 2 };

/** Consecutive repeats removed (the engine dedupes; "at least once" allows repeats). */
const distinct = (states: TaskState[]): string[] =>
  states.map((s) => s.state).filter((s, i, all) => i === 0 || all[i - 1] !== s);

/** Registers the suite for one backend. */
export function schedulerConformance(
  name: string,
  make: (desk: AgentDesk) => Promise<BackendHarness>,
): void {
  describe(`scheduler backend conformance: ${name}`, () => {
    let h: BackendHarness;
    let desk: AgentDesk;
    beforeAll(async () => {
      desk = await AgentDesk.start();
      h = await make(desk);
    });
    afterAll(async () => {
      await h?.close();
      await desk?.close();
    });
    const opened: SchedulerBackend[] = [];
    const open = async (): Promise<{ backend: SchedulerBackend; watcher: Watcher }> => {
      const backend = await h.open();
      opened.push(backend);
      return { backend, watcher: new Watcher(backend) };
    };
    afterAll(async () => {
      for (const b of opened) await b.close();
    });

    it("submit is idempotent on the task id: however often submitted, one agent runs", async () => {
      const { backend, watcher } = await open();
      const p = desk.plan();
      await backend.submit(p);
      await Promise.all([backend.submit(p), backend.submit(p)]);
      await backend.submit(p);
      await h.started(p.taskId);
      await h.finish(p.taskId, 0);
      await watcher.reached(p.taskId, isFinal, "final state");
      expect(h.starts(p.taskId)).toBe(1);
    });

    it("watch delivers every state in order, at least once: queued, running, finished with the exit code", async () => {
      const { backend, watcher } = await open();
      const p = desk.plan();
      await backend.submit(p);
      await h.started(p.taskId);
      await watcher.reached(p.taskId, (s) => s.state === "running", "running");
      await h.finish(p.taskId, 0);
      const done = await watcher.reached(p.taskId, isFinal, "final state");
      expect(done).toMatchObject({ state: "finished", exitCode: 0 });
      expect(distinct(watcher.states(p.taskId))).toEqual(["queued", "running", "finished"]);
      const ranks = watcher.states(p.taskId).map((s) => RANK[s.state]);
      expect(ranks).toEqual([...ranks].sort((a, b) => a - b));
    });

    it("an agent that exits without success ends its task in a final state, never back to running", async () => {
      const { backend, watcher } = await open();
      const p = desk.plan();
      await backend.submit(p);
      await h.started(p.taskId);
      await h.finish(p.taskId, 3);
      await watcher.reached(p.taskId, isFinal, "final state");
      const states = watcher.states(p.taskId);
      const first = states.findIndex(isFinal);
      expect(states.slice(first).every(isFinal)).toBe(true);
    });

    it("hands the agent its task token and the output URL", async () => {
      const { backend } = await open();
      const p = desk.plan();
      await backend.submit(p);
      await h.started(p.taskId);
      expect(h.handed(p.taskId)).toEqual({ token: p.taskToken, outputUrl: p.outputUrl });
      await h.finish(p.taskId, 0);
    });

    it("cancel stops a running agent; cancel and cleanup are idempotent and safe for unknown and finished tasks", async () => {
      const { backend, watcher } = await open();
      await backend.cancel(randomUUID());
      await backend.cleanup(randomUUID());
      const p = desk.plan();
      await backend.submit(p);
      await h.started(p.taskId);
      await watcher.reached(p.taskId, (s) => s.state === "running", "running");
      await backend.cancel(p.taskId);
      await backend.cancel(p.taskId);
      await vi.waitFor(() => expect(h.running(p.taskId)).toBe(false), {
        timeout: 20_000,
        interval: 10,
      });
      await backend.cleanup(p.taskId);
      await backend.cleanup(p.taskId);
      await backend.cancel(p.taskId);

      const done = desk.plan();
      await backend.submit(done);
      await h.started(done.taskId);
      await h.finish(done.taskId, 0);
      await watcher.reached(done.taskId, isFinal, "final state");
      await backend.cancel(done.taskId);
      await backend.cleanup(done.taskId);
      await backend.cleanup(done.taskId);
    });

    it("reconcile after a restart re-emits the state of known tasks, reports missing ones lost, stops unknown ones and keeps watching", async () => {
      const first = await open();
      const kept = desk.plan();
      const orphan = desk.plan();
      await first.backend.submit(kept);
      await first.backend.submit(orphan);
      await h.started(kept.taskId);
      await h.started(orphan.taskId);
      first.watcher.unwatch();
      await first.backend.close();

      const second = await open();
      const missing = randomUUID();
      await second.backend.reconcile(new Set([kept.taskId, missing]));
      await second.watcher.reached(kept.taskId, (s) => s.state === "running", "running");
      await second.watcher.reached(missing, (s) => s.state === "lost", "lost");
      await vi.waitFor(() => expect(h.running(orphan.taskId)).toBe(false), {
        timeout: 20_000,
        interval: 10,
      });
      expect(h.running(kept.taskId)).toBe(true);
      await h.finish(kept.taskId, 0);
      await second.watcher.reached(kept.taskId, (s) => s.state === "finished", "finished");
    });

    it("surfaces unreachable infrastructure as SchedulerUnavailableError, and submits once it is back", async () => {
      const { backend, restore } = await h.unavailable();
      opened.push(backend);
      const watcher = new Watcher(backend);
      const p = desk.plan();
      const err = await backend.submit(p).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(SchedulerUnavailableError);
      expect(err).toMatchObject({ code: "DROVER_ERR_SCHEDULER_UNAVAILABLE" });
      await restore();
      await backend.submit(p);
      await h.started(p.taskId);
      await h.finish(p.taskId, 0);
      await watcher.reached(p.taskId, isFinal, "final state");
      expect(h.starts(p.taskId)).toBe(1);
    });
  });
}

/** The harness parts of a backend whose agents claim at `desk`. */
export function deskAgents(
  desk: AgentDesk,
): Pick<BackendHarness, "started" | "finish" | "starts" | "running" | "handed"> {
  return {
    started: (taskId) => desk.started(taskId),
    finish: async (taskId, exitCode) => desk.finish(taskId, exitCode),
    starts: (taskId) => desk.starts(taskId),
    running: (taskId) => desk.running(taskId),
    handed: (taskId) => desk.handed(taskId),
  };
}
