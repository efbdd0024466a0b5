import type { ClientNode } from "./client-node.js";
import { HttpError, blocking, sendJson, type Route } from "./http.js";
import type { TestScheduler } from "./scheduler.js";
import { allocStub, newEval, type NomadState } from "./state.js";

export interface AllocationsContext {
  state: NomadState;
  scheduler: TestScheduler;
  client: ClientNode;
}

/** `/v1/allocations`, `/v1/allocation/:id` and `/v1/allocation/:id/stop`. */
export function allocationRoutes(ctx: AllocationsContext): Route[] {
  const { state } = ctx;
  return [
    {
      methods: ["GET"],
      path: /^\/v1\/allocations$/,
      name: "/v1/allocations",
      handle: (req, res, { query, ns }) => {
        const prefix = query.get("prefix") ?? "";
        return blocking(state, req, res, query, "allocs", () =>
          [...state.allocs.values()]
            .filter((a) => (ns === "*" || a.Namespace === ns) && a.ID.startsWith(prefix))
            .map(allocStub),
        );
      },
    },
    {
      methods: ["GET"],
      path: /^\/v1\/allocation\/([^/]+)$/,
      name: "/v1/allocation/:id",
      handle: (req, res, { params, query }) =>
        blocking(state, req, res, query, "allocs", () => {
          const a = state.allocs.get(params[0]!);
          if (!a) throw new HttpError(404, "alloc not found");
          return {
            ...allocStub(a),
            Job: state.job(a.Namespace, a.JobID)?.job ?? null,
            AllocModifyIndex: a.AllocModifyIndex,
          };
        }),
    },
    {
      methods: ["PUT", "POST"],
      path: /^\/v1\/allocation\/([^/]+)\/stop$/,
      name: "/v1/allocation/:id/stop",
      handle: (_req, res, { params }) => {
        const a = state.allocs.get(params[0]!);
        if (!a) throw new HttpError(404, "alloc not found");
        const stored = state.job(a.Namespace, a.JobID);
        ctx.client.stop(a, "alloc was stopped by the user");
        const ev = newEval(a.Namespace, stored?.job ?? { ID: a.JobID }, "alloc-stop");
        const index = state.commitEval(ev, [], ["allocs"]);
        // A stopped allocation of a running job is rescheduled.
        if (stored && !stored.stopped) {
          const group = stored.job.TaskGroups?.find((g) => g.Name === a.TaskGroup);
          if (group) ctx.scheduler.place(stored, group, ev, a);
        }
        sendJson(res, 200, { EvalID: ev.ID, Index: index }, index);
      },
    },
  ];
}
