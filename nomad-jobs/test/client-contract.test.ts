import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { NomadError, NomadErrorCode, type EventBatch } from "@drover/nomad-jobs";
import { batchJob, realNomadTarget, testServerTarget, type Target } from "./helpers.js";

/** Waits until the test server holds a blocking query (a real Nomad cannot be asked). */
async function blockedOnServer(t: Target): Promise<void> {
  const server = t.server;
  if (server) await vi.waitFor(() => expect(server.blockedQueries).toBe(1), { interval: 5 });
}

/** The client contract: the same assertions against the test server and a real Nomad. */
function contract(name: string, make: () => Promise<Target>): void {
  describe(`client contract (${name})`, () => {
    let t: Target;
    beforeAll(async () => {
      t = await make();
    });
    afterAll(async () => {
      await t?.close();
    });

    it("registers, reads, lists by prefix, summarizes and purges a job", async () => {
      const job = batchJob();
      const reg = await t.client.jobs.register(job);
      expect(reg.data.JobModifyIndex).toBeGreaterThan(0);
      expect(reg.meta.lastIndex).toBeGreaterThan(0);

      const info = await t.client.jobs.info(job.ID);
      expect(info.data.ID).toBe(job.ID);
      expect(info.data.Type).toBe("batch");
      expect(info.meta.knownLeader).toBe(true);

      const list = await t.client.jobs.list({ prefix: job.ID });
      expect(list.data.map((j) => j.ID)).toEqual([job.ID]);
      const other = await t.client.jobs.list({ prefix: `${job.ID}-nope` });
      expect(other.data).toEqual([]);

      const summary = await t.client.jobs.summary(job.ID);
      expect(Object.keys(summary.data.Summary)).toEqual(["g"]);

      const allocs = await t.client.jobs.allocations(job.ID);
      expect(Array.isArray(allocs.data)).toBe(true);

      const dereg = await t.client.jobs.deregister(job.ID, { purge: true });
      expect(dereg.data.EvalID).toBeTruthy();
      await expect(t.client.jobs.info(job.ID)).rejects.toMatchObject({
        code: NomadErrorCode.NotFound,
        status: 404,
      });
    });

    it("enforces the job modify index: a second create-only register fails", async () => {
      const job = batchJob();
      await t.client.jobs.register(job, { enforceIndex: true, jobModifyIndex: 0 });
      const err = await t.client.jobs
        .register(job, { enforceIndex: true, jobModifyIndex: 0 })
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NomadError);
      expect((err as NomadError).body).toContain("Enforcing job modify index");
      await t.client.jobs.deregister(job.ID, { purge: true });
    });

    it("answers a blocking query when the index moves, and after `wait` when it does not", async () => {
      const job = batchJob();
      const first = await t.client.jobs.register(job);
      const info = await t.client.jobs.info(job.ID);
      const started = Date.now();
      const idle = await t.client.jobs.info(job.ID, { index: info.meta.lastIndex, waitMs: 300 });
      const waited = Date.now() - started;
      expect(waited).toBeGreaterThanOrEqual(250);
      expect(idle.meta.lastIndex).toBe(info.meta.lastIndex);

      const blocked = t.client.jobs.list(
        { prefix: job.ID },
        { index: idle.meta.lastIndex, waitMs: 20_000 },
      );
      await blockedOnServer(t);
      await t.client.jobs.deregister(job.ID);
      const woke = await blocked;
      expect(woke.meta.lastIndex).toBeGreaterThan(idle.meta.lastIndex);
      expect(woke.data[0]?.Stop).toBe(true);
      expect(first.meta.lastIndex).toBeGreaterThan(0);
      await t.client.jobs.deregister(job.ID, { purge: true });
    });

    it("cancels a blocking query with an AbortSignal", async () => {
      const job = batchJob();
      await t.client.jobs.register(job);
      const info = await t.client.jobs.info(job.ID);
      const ac = new AbortController();
      const pending = t.client.jobs.info(job.ID, {
        index: info.meta.lastIndex + 1_000_000,
        waitMs: 60_000,
        signal: ac.signal,
      });
      await blockedOnServer(t);
      // The index never moves: only the abort ends the 60 s wait.
      ac.abort(new Error("stop waiting"));
      await expect(pending).rejects.toThrow("stop waiting");
      await t.client.jobs.deregister(job.ID, { purge: true });
    });

    it("streams Job events for one job from an index", async () => {
      const job = batchJob();
      const before = await t.client.jobs.list({ prefix: job.ID });
      const ac = new AbortController();
      const sub = t.client.events.subscribe({
        topics: [`Job:${job.ID}`],
        index: before.meta.lastIndex,
        signal: ac.signal,
      });
      const seen: EventBatch[] = [];
      const reading = (async () => {
        for await (const batch of sub) {
          seen.push(batch);
          if (batch.Events.some((e) => e.Type === "JobDeregistered")) break;
        }
      })();
      await t.client.jobs.register(job);
      await t.client.jobs.deregister(job.ID, { purge: true });
      await reading;
      ac.abort();
      const types = seen.flatMap((b) => b.Events.map((e) => `${e.Topic}/${e.Type}/${e.Key}`));
      expect(types).toContain(`Job/JobRegistered/${job.ID}`);
      expect(types).toContain(`Job/JobDeregistered/${job.ID}`);
      expect(seen.every((b) => b.Events.every((e) => e.Key === job.ID))).toBe(true);
      expect(sub.lastIndex).toBeGreaterThan(before.meta.lastIndex);
    });

    it("dispatches a parameterized job once per idempotency token, with payload and meta", async () => {
      const parent = batchJob({
        ParameterizedJob: { Payload: "optional", MetaRequired: ["drover_task"] },
      });
      await t.client.jobs.register(parent);
      const opts = { payload: "hello", meta: { drover_task: "t1" } };
      const a = await t.client.jobs.dispatch(parent.ID, opts, { idempotencyToken: "tok-1" });
      const b = await t.client.jobs.dispatch(parent.ID, opts, { idempotencyToken: "tok-1" });
      expect(a.data.DispatchedJobID).toMatch(new RegExp(`^${parent.ID}/dispatch-`));
      expect(b.data.DispatchedJobID).toBe(a.data.DispatchedJobID);
      const child = await t.client.jobs.info(a.data.DispatchedJobID);
      expect(Buffer.from(child.data.Payload ?? "", "base64").toString()).toBe("hello");
      expect(child.data.Meta?.drover_task).toBe("t1");
      const missing = await t.client.jobs.dispatch(parent.ID, {}).catch((e: unknown) => e);
      expect(missing).toMatchObject({ code: NomadErrorCode.BadRequest, status: 400 });
      expect((missing as NomadError).body).toContain("drover_task");
      await t.client.jobs.deregister(a.data.DispatchedJobID, { purge: true });
      await t.client.jobs.deregister(parent.ID, { purge: true });
    });

    it("lists nodes and reads agent health", async () => {
      const nodes = await t.client.nodes.list();
      expect(nodes.data.length).toBeGreaterThan(0);
      expect(nodes.data[0]).toHaveProperty("Status");
      const health = await t.client.agent.health();
      expect(health.data.server?.ok ?? health.data.client?.ok).toBe(true);
    });

    it("turns a text/plain 404 into a typed error with status and body", async () => {
      const err = await t.client.allocations
        .info("00000000-0000-0000-0000-000000000000")
        .catch((e: unknown) => e);
      expect(err).toBeInstanceOf(NomadError);
      expect(err).toMatchObject({ code: NomadErrorCode.NotFound, status: 404 });
      expect((err as NomadError).body).toMatch(/not found/i);
    });
  });
}

contract("test server", () => testServerTarget());
const real = realNomadTarget();
if (real) contract(real.name, async () => real);
