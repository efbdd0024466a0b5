import { randomUUID } from "node:crypto";
import type { AllocatedPort, Evaluation, NomadEvent } from "../client/types.js";
import type { NomadJob, NomadTaskGroup } from "../jobspec/schema.js";
import type { ClientNode } from "./client-node.js";
import {
  NS_PER_MS,
  allocEvent,
  newTaskState,
  type Alloc,
  type NomadState,
  type StoredJob,
  type TestNode,
} from "./state.js";

/**
 * The test server's scheduler: places each group's missing allocations on the first feasible
 * node (datacenter, node pool, constraints), keeps the rest queued with a blocked evaluation, and
 * hands each placement to the client node.
 */
export class TestScheduler {
  /** Allocations that found no node, by `${ns}/${jobId}` and group. */
  readonly queued = new Map<string, Record<string, number>>();

  constructor(
    private readonly state: NomadState,
    private readonly client: ClientNode,
    private readonly autoPlace: boolean,
  ) {}

  /** Places what a job's groups miss; an evaluation with unplaced allocations is blocked. */
  schedule(stored: StoredJob, ev: Evaluation): void {
    if (!this.autoPlace) return;
    const key = `${stored.job.Namespace}/${stored.job.ID}`;
    const queued: Record<string, number> = {};
    for (const group of stored.job.TaskGroups ?? []) {
      const have = this.state
        .jobAllocs(stored.job.Namespace, stored.job.ID)
        .filter(
          (a) =>
            a.TaskGroup === group.Name && a.ClientStatus !== "lost" && a.DesiredStatus === "run",
        ).length;
      for (let i = have; i < (group.Count ?? 1); i++) {
        if (!this.place(stored, group, ev)) queued[group.Name] = (queued[group.Name] ?? 0) + 1;
      }
    }
    this.queued.set(key, queued);
    if (Object.keys(queued).length > 0) {
      ev.Status = "blocked";
      ev.StatusDescription = "created to place remaining allocations";
      this.state.commitEval(ev, [], ["job_summary"]);
    }
  }

  /** Places one allocation of a group (replacing `previous`), or returns undefined. */
  place(
    stored: StoredJob,
    group: NomadTaskGroup,
    ev: Evaluation,
    previous?: Alloc,
  ): Alloc | undefined {
    const node = this.state.nodes.find((n) => feasible(n, stored.job, group));
    if (!node) return undefined;
    const index = this.state.index + 1;
    const ordinal = previous
      ? Number(/\[(\d+)\]$/.exec(previous.Name)?.[1] ?? 0)
      : this.state
          .jobAllocs(stored.job.Namespace, stored.job.ID)
          .filter((a) => a.TaskGroup === group.Name).length;
    const ports: AllocatedPort[] = [];
    for (const net of group.Networks ?? []) {
      for (const p of net.ReservedPorts ?? [])
        ports.push({ Label: p.Label, Value: p.Value ?? 0, To: p.To ?? 0, HostIP: "127.0.0.1" });
      for (const p of net.DynamicPorts ?? [])
        ports.push({
          Label: p.Label,
          Value: 20000 + Math.floor(Math.random() * 12000),
          To: p.To ?? 0,
          HostIP: "127.0.0.1",
        });
    }
    const now = Date.now() * NS_PER_MS;
    const alloc: Alloc = {
      ID: randomUUID(),
      EvalID: ev.ID,
      Name: `${stored.job.ID}.${group.Name}[${ordinal}]`,
      Namespace: stored.job.Namespace,
      NodeID: node.ID,
      NodeName: node.Name,
      JobID: stored.job.ID,
      JobType: stored.job.Type ?? "service",
      JobVersion: stored.job.Version ?? 0,
      TaskGroup: group.Name,
      DesiredStatus: "run",
      DesiredDescription: "",
      ClientStatus: "pending",
      ClientDescription: "",
      TaskStates: Object.fromEntries(group.Tasks.map((t) => [t.Name, newTaskState()])),
      AllocatedResources: { Shared: { Ports: ports } },
      PreviousAllocation: previous?.ID ?? "",
      NextAllocation: "",
      FollowupEvalID: "",
      CreateIndex: index,
      ModifyIndex: index,
      AllocModifyIndex: index,
      CreateTime: now,
      ModifyTime: now,
    };
    this.state.allocs.set(alloc.ID, alloc);
    const events: Array<Omit<NomadEvent, "Index">> = [allocEvent(alloc, "PlanResult")];
    if (previous) {
      previous.NextAllocation = alloc.ID;
      previous.ModifyIndex = index;
      events.push(allocEvent(previous, "AllocationUpdated"));
    }
    this.state.commit(["allocs", "job_summary", "jobs"], events);
    this.client.receive(alloc, stored.job, group, node);
    return alloc;
  }
}

function feasible(node: TestNode, job: NomadJob, group: NomadTaskGroup): boolean {
  if (node.Status !== "ready" || node.SchedulingEligibility !== "eligible") return false;
  const dcs = job.Datacenters ?? ["*"];
  if (!dcs.some((dc) => dc === "*" || dc === node.Datacenter)) return false;
  if ((job.NodePool || "default") !== "all" && (job.NodePool || "default") !== node.NodePool)
    return false;
  const constraints = [
    ...(job.Constraints ?? []),
    ...(group.Constraints ?? []),
    ...group.Tasks.flatMap((t) => t.Constraints ?? []),
  ];
  return constraints.every((c) => {
    const l = resolveTarget(c.LTarget ?? "", node);
    const r = resolveTarget(c.RTarget ?? "", node);
    switch (c.Operand) {
      case "=":
      case "==":
      case "is":
        return l === r;
      case "!=":
      case "not":
        return l !== r;
      case "regexp":
        return l !== undefined && r !== undefined && new RegExp(r).test(l);
      case "is_set":
        return l !== undefined;
      case "is_not_set":
        return l === undefined;
      default:
        return true;
    }
  });
}

function resolveTarget(target: string, node: TestNode): string | undefined {
  const m = /^\$\{(.+)\}$/.exec(target);
  if (!m) return target;
  const path = m[1]!;
  if (path.startsWith("attr.")) return node.Attributes[path.slice(5)];
  if (path.startsWith("meta.")) return node.Meta[path.slice(5)];
  if (path === "node.class") return node.NodeClass;
  if (path === "node.datacenter") return node.Datacenter;
  if (path === "node.pool") return node.NodePool;
  if (path === "node.unique.id") return node.ID;
  if (path === "node.unique.name") return node.Name;
  return undefined;
}
