import { randomUUID } from "node:crypto";
import { createServer } from "node:net";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { NomadClient, jobSpecConfigSchema } from "@drover/nomad-jobs";
import { NomadTestServer } from "@drover/nomad-jobs/testing";
import {
  InstantScheduler,
  NomadScheduler,
  registerNomadAdminRoutes,
  type TaskPlan,
} from "@drover/control-plane";
import { openDatabase } from "@drover/control-plane/db";
import { expectError } from "../helpers/errors.js";
import { http, startTestServer } from "../helpers/server.js";

const logger = pino({ level: "silent" });

function plan(): TaskPlan {
  return {
    taskId: randomUUID(),
    taskToken: `dtt_${randomUUID().replaceAll("-", "")}`,
    controlPlaneUrl: "http://127.0.0.1:8080",
    outputUrl: "http://127.0.0.1:8585",
    project: { slug: "gh/acme/api", name: "api" },
    pipeline: { id: randomUUID(), number: 3 },
    workflow: { id: randomUUID(), name: "main" },
    job: { id: randomUUID(), name: "build", number: 9, attempt: 1 },
    node: { index: 0, total: 1 },
    resourceClass: "medium",
    executorType: "docker",
    sshEnabled: false,
    jobUrl: "http://127.0.0.1:8080/jobs/9",
  };
}

describe("GET /api/v2/admin/nomad/jobs", () => {
  it("lists Drover's Nomad jobs for admins, with UI links", async () => {
    const nomad = await NomadTestServer.start({ heartbeatMs: 100 });
    const db = await openDatabase({});
    const scheduler = new NomadScheduler({
      client: new NomadClient({ address: nomad.url }),
      spec: jobSpecConfigSchema.parse({}),
      logger,
      ownsClient: true,
    });
    const { cp } = await startTestServer(db, scheduler, { routes: [registerNomadAdminRoutes] });
    try {
      const p = plan();
      await scheduler.submit(p);
      const jobId = scheduler.jobIdOf(p.taskId)!;
      const alloc = await nomad.waitForAllocation(jobId);
      const res = await fetch(`${cp.url}/api/v2/admin/nomad/jobs`, {
        headers: {
          "Circle-Token": cp.bootstrapToken!,
          authorization: `Bearer ${cp.bootstrapToken!}`,
        },
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { items: Array<Record<string, unknown>> };
      expect(body.items).toEqual([
        {
          job_id: jobId,
          task_id: p.taskId,
          namespace: "default",
          status: "running",
          project_slug: "gh/acme/api",
          pipeline_number: 3,
          job_name: "build",
          allocation: { id: alloc.ID, client_status: "pending", node: "drover-test-node-0" },
          links: {
            job: `${nomad.url}/ui/jobs/${jobId}@default`,
            allocation: `${nomad.url}/ui/allocations/${alloc.ID}`,
          },
        },
      ]);
      expectError(
        await http(cp.url, "GET", "/api/v2/admin/nomad/jobs"),
        401,
        "DROVER_ERR_UNAUTHENTICATED",
      );
    } finally {
      await cp.close();
      await scheduler.close();
      await nomad.close();
    }
  });

  it("answers 409 when the local scheduler is in use", async () => {
    const db = await openDatabase({});
    const { cp, admin } = await startTestServer(db, new InstantScheduler(), {
      routes: [registerNomadAdminRoutes],
    });
    try {
      const res = await http(cp.url, "GET", "/api/v2/admin/nomad/jobs", {
        token: cp.bootstrapToken!,
      });
      expectError(res, 409, "DROVER_ERR_CONFLICT");
      const member = await admin.createToken({ login: `m-${randomUUID().slice(0, 8)}` });
      expectError(
        await http(cp.url, "GET", "/api/v2/admin/nomad/jobs", { token: member.token }),
        403,
        "DROVER_ERR_FORBIDDEN",
      );
    } finally {
      await cp.close();
    }
  });

  it("answers 503 with the scheduler's code and a request id when Nomad cannot be reached", async () => {
    const port = await new Promise<number>((resolve) => {
      const probe = createServer().listen(0, "127.0.0.1", () => {
        const { port } = probe.address() as { port: number };
        probe.close(() => resolve(port));
      });
    });
    const db = await openDatabase({});
    const scheduler = new NomadScheduler({
      client: new NomadClient({
        address: `http://127.0.0.1:${port}`,
        retry: { maxRetries: 0 },
      }),
      spec: jobSpecConfigSchema.parse({}),
      logger,
      ownsClient: true,
    });
    const { cp } = await startTestServer(db, scheduler, { routes: [registerNomadAdminRoutes] });
    try {
      const res = await http(cp.url, "GET", "/api/v2/admin/nomad/jobs", {
        token: cp.bootstrapToken!,
      });
      expectError(res, 503, "DROVER_ERR_SCHEDULER_UNAVAILABLE");
      expect(res.body.request_id).toBe(res.headers.get("x-request-id"));
    } finally {
      await cp.close();
    }
  });
});
