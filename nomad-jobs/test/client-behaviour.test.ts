import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  JsonObjectStreamDecoder,
  NomadClient,
  NomadError,
  NomadErrorCode,
  fromEnv,
  type NomadConfigInput,
  type NomadEvent,
} from "@drover/nomad-jobs";
import { Signal, batchJob, testServerTarget } from "./helpers.js";

describe("allocation lifecycle and the event stream", () => {
  it("follows an allocation from placement to completion, resuming after disconnects without loss or duplicates", async () => {
    const t = await testServerTarget();
    try {
      const job = batchJob();
      const start = await t.client.jobs.list({ prefix: job.ID });
      const ac = new AbortController();
      const sub = t.client.events.subscribe({
        topics: [`Allocation:${job.ID}`, `Job:${job.ID}`],
        index: start.meta.lastIndex,
        signal: ac.signal,
        reconnect: { minDelayMs: 5, maxDelayMs: 20 },
      });
      const events: NomadEvent[] = [];
      const read = new Signal();
      const statuses = (): string[] =>
        events
          .filter((e) => e.Topic === "Allocation")
          .map((e) => (e.Payload.Allocation as { ClientStatus: string }).ClientStatus);
      const reading = (async () => {
        for await (const b of sub) {
          events.push(...b.Events);
          read.notify();
          if (statuses().includes("complete")) break;
        }
      })();
      await t.client.jobs.register(job);
      const alloc = await t.server.waitForAllocation(job.ID);
      t.server.dropEventStreams();
      t.server.runAllocation(alloc.ID);
      // "running" arrived on the resumed stream: the next drop cuts that one.
      await read.until(() => statuses().includes("running"));
      t.server.dropEventStreams();
      t.server.completeAllocation(alloc.ID, 0);
      await reading;
      ac.abort();

      expect(statuses()).toEqual(["pending", "running", "complete"]);
      const indexes = events.map((e) => e.Index);
      expect(new Set(indexes).size).toBe(indexes.length);
      expect([...indexes].sort((a, b) => a - b)).toEqual(indexes);
      expect(sub.reconnects).toBeGreaterThanOrEqual(2);

      const done = await t.client.allocations.info(alloc.ID);
      expect(done.data.ClientStatus).toBe("complete");
      expect(done.data.TaskStates?.t?.Events?.map((e) => e.Type)).toContain("Terminated");
      const summary = await t.client.jobs.summary(job.ID);
      expect(summary.data.Summary.g?.Complete).toBe(1);
      const info = await t.client.jobs.info(job.ID);
      expect(info.data.Status).toBe("dead");
    } finally {
      await t.close();
    }
  });

  it("fails, loses (with a replacement) and stops allocations", async () => {
    const t = await testServerTarget();
    try {
      const job = batchJob();
      job.TaskGroups![0]!.Count = 3;
      await t.client.jobs.register(job);
      const [a, b, c] = t.server.allocationsOf(job.ID);
      t.server.failAllocation(a!.ID, { driverError: "image not found" });
      const replacement = t.server.loseAllocation(b!.ID);
      const stopped = await t.client.allocations.stop(c!.ID);
      expect(stopped.data.EvalID).toBeTruthy();
      const failed = await t.client.allocations.info(a!.ID);
      expect(failed.data.ClientStatus).toBe("failed");
      expect(
        failed.data.TaskStates?.t?.Events?.find((e) => e.Type === "Driver Failure")?.DriverError,
      ).toBe("image not found");
      const lost = await t.client.allocations.info(b!.ID);
      expect(lost.data.ClientStatus).toBe("lost");
      expect(lost.data.NextAllocation).toBe(replacement?.ID);
      const stoppedInfo = await t.client.allocations.info(c!.ID);
      expect(stoppedInfo.data.DesiredStatus).toBe("stop");
      expect(stoppedInfo.data.ClientStatus).toBe("complete");
      const all = await t.client.jobs.allocations(job.ID);
      // 3 placed, 1 replacement for the lost one, 1 for the stopped one.
      expect(all.data).toHaveLength(5);
    } finally {
      await t.close();
    }
  });

  it("keeps a job queued when no node satisfies its node class constraint", async () => {
    const t = await testServerTarget();
    try {
      const job = batchJob({
        Constraints: [{ LTarget: "${node.class}", RTarget: "gpu", Operand: "=" }],
      });
      await t.client.jobs.register(job);
      const summary = await t.client.jobs.summary(job.ID);
      expect(summary.data.Summary.g?.Queued).toBe(1);
      const evals = await t.client.jobs.evaluations(job.ID);
      expect(evals.data.some((e) => e.Status === "blocked")).toBe(true);
      expect((await t.client.jobs.info(job.ID)).data.Status).toBe("pending");
    } finally {
      await t.close();
    }
  });

  it("runs a raw_exec task as a process with its Env and Nomad's variables", async () => {
    const t = await testServerTarget({ execRawExec: true });
    try {
      const job = batchJob();
      const task = job.TaskGroups![0]!.Tasks[0]!;
      task.Config = {
        command: "/bin/sh",
        args: [
          "-c",
          'echo "token=$DROVER_TASK_TOKEN alloc=$NOMAD_ALLOC_ID"; echo oops >&2; exit 3',
        ],
      };
      task.Env = { DROVER_TASK_TOKEN: "tok-123" };
      await t.client.jobs.register(job);
      const alloc = await t.server.waitForAllocation(job.ID, (a) => a.ClientStatus === "failed");
      const out = await t.client.logs.text(alloc.ID, { task: "t", type: "stdout" });
      expect(out).toBe(`token=tok-123 alloc=${alloc.ID}\n`);
      expect(await t.client.logs.text(alloc.ID, { task: "t", type: "stderr" })).toBe("oops\n");
      const info = await t.client.allocations.info(alloc.ID);
      expect(info.data.TaskStates?.t?.Events?.find((e) => e.Type === "Terminated")?.ExitCode).toBe(
        3,
      );
    } finally {
      await t.close();
    }
  });
});

describe("task logs", () => {
  it("decodes frames split across reads, follows appends, and reports truncation and deletion", async () => {
    const t = await testServerTarget({ logChunkBytes: 7 });
    try {
      const job = batchJob();
      await t.client.jobs.register(job);
      const alloc = await t.server.waitForAllocation(job.ID);
      t.server.runAllocation(alloc.ID);
      t.server.appendLog(alloc.ID, "t", "stdout", "first line\n");
      const frames: string[] = [];
      const read = new Signal();
      const following = (async () => {
        for await (const f of t.client.logs.stream(alloc.ID, {
          task: "t",
          type: "stdout",
          follow: true,
        })) {
          frames.push(
            f.kind === "data" ? `data@${f.offset}:${f.data.toString()}` : `event:${f.event}`,
          );
          read.notify();
        }
      })();
      // Each write waits for the frames before it, so every frame is its own read.
      await read.until(() => frames.length === 1);
      t.server.appendLog(alloc.ID, "t", "stdout", "second ☃ line\n");
      await read.until(() => frames.length === 2);
      t.server.truncateLog(alloc.ID, "t", "stdout");
      t.server.appendLog(alloc.ID, "t", "stdout", "after\n");
      await read.until(() => frames.length === 4);
      t.server.deleteLog(alloc.ID, "t", "stdout");
      await following;
      expect(frames).toEqual([
        "data@0:first line\n",
        "data@11:second ☃ line\n",
        "event:file truncated",
        "data@0:after\n",
        "event:file deleted",
      ]);
      const tail = await t.client.logs.text(alloc.ID, {
        task: "t",
        type: "stdout",
        origin: "end",
        offset: 3,
      });
      expect(tail).toBe("er\n");
    } finally {
      await t.close();
    }
  });

  it("decodes any split of a frame stream identically", () => {
    const frames = [
      { File: "alloc/logs/a.stdout.0", Offset: 0, Data: Buffer.from('x"{}\\y').toString("base64") },
      {},
      { File: "alloc/logs/a.stdout.0", FileEvent: "file truncated" },
      { File: 'weird } { " name', Offset: 5, Data: "" },
    ];
    const bytes = Buffer.from(frames.map((f) => JSON.stringify(f)).join("\n"));
    for (let size = 1; size <= bytes.length; size += 3) {
      const d = new JsonObjectStreamDecoder();
      const out: unknown[] = [];
      for (let i = 0; i < bytes.length; i += size) out.push(...d.push(bytes.subarray(i, i + size)));
      d.end();
      expect(out).toEqual(frames);
    }
    const bad = new JsonObjectStreamDecoder();
    expect(() => bad.push(Buffer.from('{"a":1} x'))).toThrow(NomadError);
  });
});

describe("errors, retries and limits", () => {
  it("rejects requests without a valid ACL token with 403", async () => {
    const t = await testServerTarget({ aclTokens: ["secret-ok"] });
    try {
      const none = await t.client.jobs.list().catch((e: unknown) => e);
      expect(none).toMatchObject({
        code: NomadErrorCode.PermissionDenied,
        status: 403,
        body: "Permission denied",
      });
      const wrong = await t.client.jobs.list({}, { token: "nope" }).catch((e: unknown) => e);
      expect(wrong).toMatchObject({ status: 403 });
      const ok = await t.client.jobs.list({}, { token: "secret-ok" });
      expect(ok.data).toEqual([]);
      const configured = new NomadClient({ address: t.server.url, token: "secret-ok" });
      await expect(configured.jobs.list()).resolves.toBeTruthy();
      await configured.close();
    } finally {
      await t.close();
    }
  });

  it("retries idempotent calls on 5xx, never a register", async () => {
    const t = await testServerTarget();
    try {
      t.server.failNext(2, 500, "rpc error: leader unavailable", /^\/v1\/jobs$/);
      const list = await t.client.jobs.list();
      expect(list.data).toEqual([]);
      expect(t.server.requestCounts.get("GET /v1/jobs")).toBe(1);
      t.server.failNext(1, 500, "rpc error: leader unavailable", /^\/v1\/jobs$/);
      const err = await t.client.jobs.register(batchJob()).catch((e: unknown) => e);
      expect(err).toMatchObject({
        code: NomadErrorCode.ServerError,
        status: 500,
        body: "rpc error: leader unavailable",
      });
      t.server.failNext(10, 502, "bad gateway", /^\/v1\/nodes$/);
      const exhausted = await t.client.nodes.list().catch((e: unknown) => e);
      expect(exhausted).toMatchObject({ status: 502 });
    } finally {
      await t.close();
    }
  });

  it("backs off on 429 from the per-client connection limit until every call succeeds", async () => {
    const t = await testServerTarget(
      { maxConnsPerClient: 2 },
      { retry: { maxRetries: 20, minDelayMs: 5, maxDelayMs: 40 } },
    );
    try {
      const job = batchJob();
      await t.client.jobs.register(job);
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          i % 2 === 0 ? t.client.jobs.info(job.ID, { index: 0 }) : t.client.jobs.summary(job.ID),
        ),
      );
      expect(results).toHaveLength(20);
      expect(t.server.throttled).toBeGreaterThan(0);
    } finally {
      await t.close();
    }
  });

  it("reports an unreachable Nomad quickly as DROVER_ERR_NOMAD_UNREACHABLE", async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, "127.0.0.1", () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const client = new NomadClient({
      address: `http://127.0.0.1:${port}`,
      retry: { maxRetries: 2, minDelayMs: 10, maxDelayMs: 20 },
    });
    const started = Date.now();
    const err = await client.jobs.list().catch((e: unknown) => e);
    expect(err).toMatchObject({ code: NomadErrorCode.Unreachable });
    expect((err as NomadError).transient).toBe(true);
    expect(Date.now() - started).toBeLessThan(2_000);
    await client.close();
  });

  it("parses NOMAD_* variables and rejects a half-configured TLS setup", () => {
    const c = fromEnv({
      NOMAD_ADDR: "https://nomad:4646",
      NOMAD_TOKEN: "t",
      NOMAD_NAMESPACE: "ci",
      NOMAD_REGION: "eu",
    });
    expect(c).toMatchObject({
      address: "https://nomad:4646",
      token: "t",
      namespace: "ci",
      region: "eu",
    });
    expect(fromEnv({}).address).toBe("http://127.0.0.1:4646");
    expect(() => fromEnv({ NOMAD_ADDR: "https://n:4646", NOMAD_CLIENT_CERT: "/c.pem" })).toThrow(
      /NOMAD_CLIENT_KEY/,
    );
    expect(() => fromEnv({ NOMAD_ADDR: "http://n:4646", NOMAD_CACERT: "/ca.pem" })).toThrow(
      /https/,
    );
    expect(() => new NomadClient({ address: "ftp://x" })).toThrow(NomadError);
  });
});

describe("TLS", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "nomad-tls-"));
    const ssl = (...args: string[]): void => {
      execFileSync("openssl", args, { cwd: dir, stdio: "ignore" });
    };
    ssl(
      "req",
      "-x509",
      "-newkey",
      "rsa:2048",
      "-nodes",
      "-keyout",
      "ca.key",
      "-out",
      "ca.pem",
      "-days",
      "1",
      "-subj",
      "/CN=drover-test-ca",
    );
    for (const name of ["server", "client"]) {
      ssl(
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-keyout",
        `${name}.key`,
        "-out",
        `${name}.csr`,
        "-subj",
        `/CN=${name}.global.nomad`,
      );
      writeFileSync(
        join(dir, `${name}.ext`),
        `subjectAltName=DNS:${name}.global.nomad,DNS:localhost,IP:127.0.0.1\n`,
      );
      ssl(
        "x509",
        "-req",
        "-in",
        `${name}.csr`,
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        `${name}.pem`,
        "-days",
        "1",
        "-extfile",
        `${name}.ext`,
      );
    }
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("verifies the server against NOMAD_CACERT and presents a client certificate (mTLS)", async () => {
    const pem = (f: string): string => readFileSync(join(dir, f), "utf8");
    const t = await testServerTarget(
      {
        tls: {
          cert: pem("server.pem"),
          key: pem("server.key"),
          ca: pem("ca.pem"),
          requireClientCert: true,
        },
      },
      {
        caCert: join(dir, "ca.pem"),
        clientCert: join(dir, "client.pem"),
        clientKey: join(dir, "client.key"),
      },
    );
    try {
      expect(t.server.url.startsWith("https://")).toBe(true);
      const health = await t.client.agent.health();
      expect(health.data.server?.ok).toBe(true);
      const noClientCert = new NomadClient({
        address: t.server.url,
        caCert: join(dir, "ca.pem"),
        retry: { maxRetries: 0 },
      });
      await expect(noClientCert.agent.health()).rejects.toMatchObject({
        code: NomadErrorCode.Unreachable,
      });
      await noClientCert.close();
      const untrusting = new NomadClient({ address: t.server.url, retry: { maxRetries: 0 } });
      await expect(untrusting.agent.health()).rejects.toMatchObject({
        code: NomadErrorCode.Unreachable,
      });
      await untrusting.close();
    } finally {
      await t.close();
    }
  });

  it("names the problem: unknown CA, wrong name; NOMAD_TLS_SERVER_NAME and NOMAD_SKIP_VERIFY", async () => {
    const pem = (f: string): string => readFileSync(join(dir, f), "utf8");
    const t = await testServerTarget({ tls: { cert: pem("server.pem"), key: pem("server.key") } });
    const client = (over: NomadConfigInput) =>
      new NomadClient({ address: t.server.url, retry: { maxRetries: 0 }, ...over });
    try {
      const untrusting = client({});
      await expect(untrusting.agent.health()).rejects.toThrow(
        /Nomad at https:.* is not signed by a trusted CA .*set NOMAD_CACERT/,
      );
      await untrusting.close();
      const named = client({ caCert: join(dir, "ca.pem"), tlsServerName: "server.global.nomad" });
      expect((await named.agent.health()).data.server?.ok).toBe(true);
      await named.close();
      const misnamed = client({ caCert: join(dir, "ca.pem"), tlsServerName: "server.eu.nomad" });
      await expect(misnamed.agent.health()).rejects.toThrow(/does not name the host connected to/);
      await misnamed.close();
      expect(fromEnv({ NOMAD_ADDR: t.server.url, NOMAD_SKIP_VERIFY: "true" }).skipVerify).toBe(
        true,
      );
      const skipping = client({ skipVerify: true });
      expect((await skipping.agent.health()).data.server?.ok).toBe(true);
      await skipping.close();
    } finally {
      await t.close();
    }
  });
});
