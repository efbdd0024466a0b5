import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type {
  Allocation,
  AllocClientStatus,
  Evaluation,
  NodeListStub,
  NomadEvent,
  TaskEvent,
  TaskState,
} from "../client/types.js";
import type { NomadJob } from "../jobspec/schema.js";

/** An allocation as the test server stores it (with its namespace). */
export type Alloc = Allocation & { Namespace: string };

export const NS_PER_MS = 1_000_000;

/** Nomad's state tables whose indexes blocking queries watch. */
export type Table = "jobs" | "allocs" | "evals" | "nodes" | "job_summary";

export interface StoredJob {
  job: NomadJob & { ID: string; Namespace: string };
  /** Stopped (deregistered without purge). */
  stopped: boolean;
}

export interface TestNode extends NodeListStub {
  HTTPAddr: string;
  Attributes: Record<string, string>;
  Meta: Record<string, string>;
}

interface EventBatchItem {
  Index: number;
  Events: NomadEvent[];
}

const key = (ns: string, id: string): string => `${ns}\u0000${id}`;

/**
 * The raft-like state of the test server: one increasing index, per-table indexes for blocking
 * queries, jobs/evaluations/allocations, and the event buffer the event stream reads.
 */
export class NomadState extends EventEmitter {
  index = 1;
  readonly tableIndex: Record<Table, number> = {
    jobs: 1,
    allocs: 1,
    evals: 1,
    nodes: 1,
    job_summary: 1,
  };
  readonly jobs = new Map<string, StoredJob>();
  readonly allocs = new Map<string, Alloc>();
  readonly evals = new Map<string, Evaluation>();
  readonly nodes: TestNode[] = [];
  readonly buffer: EventBatchItem[] = [];
  /** Dispatch idempotency tokens: `${ns}/${parent}/${token}` -> dispatched job ID. */
  readonly dispatchTokens = new Map<string, string>();
  /** Blocking queries waiting for an index to pass. */
  blockedQueries = 0;
  readonly #bufferSize: number;

  constructor(bufferSize = 20_000) {
    super();
    this.setMaxListeners(0);
    this.#bufferSize = bufferSize;
  }

  /** Applies one write: bumps the index, marks tables, publishes events, wakes blocked queries. */
  commit(tables: Table[], events: Array<Omit<NomadEvent, "Index">>): number {
    const index = ++this.index;
    for (const t of tables) this.tableIndex[t] = index;
    if (events.length > 0) {
      this.buffer.push({ Index: index, Events: events.map((e) => ({ ...e, Index: index })) });
      if (this.buffer.length > this.#bufferSize)
        this.buffer.splice(0, this.buffer.length - this.#bufferSize);
    }
    this.emit("commit", index);
    return index;
  }

  job(ns: string, id: string): StoredJob | undefined {
    return this.jobs.get(key(ns, id));
  }

  putJob(ns: string, stored: StoredJob): void {
    this.jobs.set(key(ns, stored.job.ID), stored);
  }

  deleteJob(ns: string, id: string): void {
    this.jobs.delete(key(ns, id));
  }

  jobAllocs(ns: string, id: string): Alloc[] {
    return [...this.allocs.values()].filter((a) => a.Namespace === ns && a.JobID === id);
  }

  /** An allocation a test names; throws for an unknown ID. */
  alloc(id: string): Alloc {
    const a = this.allocs.get(id);
    if (!a) throw new Error(`unknown allocation ${id}`);
    return a;
  }

  /** Changes an allocation and commits it with one `Allocation` event of this type. */
  updateAlloc(a: Alloc, type: string, mutate: (a: Alloc) => void): void {
    mutate(a);
    const index = this.index + 1;
    a.ModifyIndex = index;
    a.ModifyTime = Date.now() * NS_PER_MS;
    if (type === "AllocationUpdateDesiredStatus") a.AllocModifyIndex = index;
    const stored = this.job(a.Namespace, a.JobID);
    if (stored) stored.job.ModifyIndex = index;
    this.commit(["allocs", "job_summary", "jobs"], [allocEvent(a, type)]);
  }

  /** Stores an evaluation and commits it (with `extra` events) to these tables and `evals`. */
  commitEval(ev: Evaluation, extra: Array<Omit<NomadEvent, "Index">>, tables: Table[]): number {
    const index = this.index + 1;
    ev.CreateIndex = ev.CreateIndex || index;
    ev.ModifyIndex = index;
    this.evals.set(ev.ID, ev);
    return this.commit(
      [...tables, "evals"],
      [
        ...extra,
        {
          Topic: "Evaluation",
          Type: "EvaluationUpdated",
          Key: ev.ID,
          Namespace: ev.Namespace,
          FilterKeys: [ev.JobID, ""],
          Payload: { Evaluation: ev },
        },
      ],
    );
  }

  /**
   * Events at or after `index`, oldest first (Nomad's broker starts at the closest buffered
   * item at or above the requested index; 0 means the whole buffer).
   */
  eventsFrom(index: number): EventBatchItem[] {
    // Binary search: the buffer is ordered by index.
    let lo = 0;
    let hi = this.buffer.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.buffer[mid]!.Index < index) lo = mid + 1;
      else hi = mid;
    }
    return this.buffer.slice(lo);
  }
}

/** An allocation as the API answers it (a copy). */
export function allocStub(a: Alloc): Allocation {
  return structuredClone({ ...a, AllocModifyIndex: a.AllocModifyIndex });
}

/** The `Allocation` topic event for an allocation. */
export function allocEvent(a: Alloc, type: string): Omit<NomadEvent, "Index"> {
  return {
    Topic: "Allocation",
    Type: type,
    Key: a.ID,
    Namespace: a.Namespace,
    FilterKeys: [a.JobID, ""],
    Payload: { Allocation: allocStub(a) },
  };
}

export function newTaskState(): TaskState {
  return {
    State: "pending",
    Failed: false,
    Restarts: 0,
    LastRestart: null,
    StartedAt: null,
    FinishedAt: null,
    Events: [],
  };
}

export function taskEvent(type: string, fields: Partial<TaskEvent> = {}): TaskEvent {
  return {
    Type: type,
    Time: Date.now() * 1_000_000,
    DisplayMessage: fields.DisplayMessage ?? fields.Message ?? type,
    Details: {},
    Message: "",
    FailsTask: false,
    ExitCode: 0,
    Signal: 0,
    DriverError: "",
    KillReason: "",
    KillError: "",
    RestartReason: "",
    SetupError: "",
    ValidationError: "",
    DownloadError: "",
    ...fields,
  };
}

export function newEval(
  ns: string,
  job: NomadJob & { ID: string },
  triggeredBy: string,
  status: "complete" | "blocked" = "complete",
): Evaluation {
  return {
    ID: randomUUID(),
    Namespace: ns,
    Priority: job.Priority ?? 50,
    Type: job.Type ?? "service",
    TriggeredBy: triggeredBy,
    JobID: job.ID,
    JobModifyIndex: job.JobModifyIndex ?? 0,
    Status: status,
    StatusDescription: status === "blocked" ? "created to place remaining allocations" : "",
    CreateIndex: 0,
    ModifyIndex: 0,
  };
}

export function isTerminal(status: AllocClientStatus): boolean {
  return status === "complete" || status === "failed" || status === "lost";
}
