import { randomUUID } from "node:crypto";
import { blocking, type Route } from "./http.js";
import type { NomadState, TestNode } from "./state.js";

/** `/v1/nodes`. */
export function nodeRoutes(state: NomadState): Route[] {
  return [
    {
      methods: ["GET"],
      path: /^\/v1\/nodes$/,
      name: "/v1/nodes",
      handle: (req, res, { query }) => {
        const prefix = query.get("prefix") ?? "";
        return blocking(state, req, res, query, "nodes", () =>
          state.nodes
            .filter((n) => n.ID.startsWith(prefix))
            .map(({ HTTPAddr: _h, Meta: _m, ...stub }) => stub),
        );
      },
    },
  ];
}

/** A ready linux node of class linux-64bit in dc1 with the docker and raw_exec drivers, unless told otherwise. */
export function testNode(i: number, n: Partial<TestNode>): TestNode {
  return {
    ID: n.ID ?? randomUUID(),
    Name: n.Name ?? `drover-test-node-${i}`,
    Address: "127.0.0.1",
    Datacenter: n.Datacenter ?? "dc1",
    NodeClass: n.NodeClass ?? "linux-64bit",
    NodePool: n.NodePool ?? "default",
    Version: "1.10.0",
    Drain: false,
    SchedulingEligibility: n.SchedulingEligibility ?? "eligible",
    Status: n.Status ?? "ready",
    StatusDescription: "",
    Attributes: {
      "kernel.name": "linux",
      "os.name": "debian",
      "driver.docker": "1",
      "driver.raw_exec": "1",
      ...(n.Attributes ?? {}),
    },
    Meta: n.Meta ?? {},
    HTTPAddr: "",
    CreateIndex: 1,
    ModifyIndex: 1,
  };
}
