import { randomUUID } from "node:crypto";
import { readFileSync } from "node:fs";
import { Writable } from "node:stream";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InstantScheduler, type ControlPlane } from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import type { DroverClient } from "@drover/cli";
import { openDatabase } from "@drover/control-plane/db";
import {
  publishWorkflowChanges,
  pusherBrowserBuildPath,
  webRoutes,
} from "@drover/control-plane/web";
import { loadWebBundle } from "@drover/web";
import { signChannelAuth } from "@drover/output-processor";
import { CONFIG, http, makeRepo, startTestServer } from "../helpers/server.js";

const APP_KEY = "drover-test-key";
const APP_SECRET = "s3cret-s3cret-s3cret-s3cret";

describe("web routes: job page and Pusher channel auth", () => {
  let db: Database;
  let cp: ControlPlane;
  let admin: DroverClient;
  let adminToken: string;
  let memberToken: string;
  let outsiderToken: string;
  let jobId: string;
  let projectId: string;
  const logs: string[] = [];
  const slug = `gh/acme/${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    db = await openDatabase({});
    const sink = new Writable({
      write(chunk: Buffer, _enc, cb) {
        logs.push(chunk.toString());
        cb();
      },
    });
    const started = await startTestServer(db, new InstantScheduler(), {
      logger: pino({ level: "debug" }, sink),
      routes: [webRoutes({ appKey: APP_KEY, appSecret: APP_SECRET, wsPort: 8585 })],
    });
    cp = started.cp;
    admin = started.admin;
    adminToken = cp.bootstrapToken ?? "";
    const repo = makeRepo({ ".circleci/config.yml": CONFIG });
    const project = await admin.addProject({ slug, repository_url: repo.url });
    projectId = project.id;
    memberToken = (
      await admin.createToken({ login: `dev-${randomUUID().slice(0, 8)}`, projects: [slug] })
    ).token;
    outsiderToken = (await admin.createToken({ login: `out-${randomUUID().slice(0, 8)}` })).token;
    const pipeline = await admin.trigger(slug, { branch: "main" });
    await cp.engine.idle();
    const wf = (await admin.pipelineWorkflows(pipeline.id)).items[0];
    if (!wf) throw new Error("no workflow");
    const jobs = (await admin.workflowJobs(wf.id)).items;
    const build = jobs.find((j: { name: string }) => j.name === "build");
    if (!build) throw new Error("no build job");
    jobId = build.id;
  });
  afterAll(async () => {
    await cp?.close();
    await db?.close();
  });

  const auth = (token: string | undefined, body: unknown, form = true) =>
    http(cp.url, "POST", "/api/pusher/auth", {
      ...(token ? { bearer: token } : {}),
      ...(form
        ? {
            raw: new URLSearchParams(body as Record<string, string>).toString(),
            headers: { "content-type": "application/x-www-form-urlencoded" },
          }
        : { body }),
    });

  it("signs job and project channels for users who may see the project", async () => {
    const socket = "1234.5678";
    for (const token of [adminToken, memberToken]) {
      for (const channel of [`private-job-${jobId}`, `private-project-${projectId}`]) {
        const res = await auth(token, { socket_id: socket, channel_name: channel });
        expect(res.status, `${channel}`).toBe(200);
        expect(res.body).toEqual({ auth: signChannelAuth(APP_KEY, APP_SECRET, socket, channel) });
      }
    }
    // JSON bodies work too (other Pusher clients send them).
    const json = await auth(
      memberToken,
      { socket_id: socket, channel_name: `private-job-${jobId}` },
      false,
    );
    expect(json.status).toBe(200);
    expect(json.body.auth).toBe(
      signChannelAuth(APP_KEY, APP_SECRET, socket, `private-job-${jobId}`),
    );
  });

  it("refuses channels the user may not see, and unknown ones alike", async () => {
    const socket = "1.2";
    for (const channel of [`private-job-${jobId}`, `private-project-${projectId}`]) {
      const res = await auth(outsiderToken, { socket_id: socket, channel_name: channel });
      expect(res.status).toBe(403);
      expect(res.body.code).toBe("DROVER_ERR_FORBIDDEN");
    }
    for (const channel of [
      `private-job-${randomUUID()}`,
      "private-job-not-a-uuid",
      `private-project-${randomUUID()}`,
      "private-other-1",
      "public-channel",
      `presence-job-${jobId}`,
    ]) {
      expect((await auth(memberToken, { socket_id: socket, channel_name: channel })).status).toBe(
        403,
      );
    }
    const admin403 = await auth(adminToken, { socket_id: socket, channel_name: "private-x" });
    expect(admin403.status).toBe(403);
    expect(
      (await auth(undefined, { socket_id: socket, channel_name: `private-job-${jobId}` })).status,
    ).toBe(401);
  });

  it("rejects malformed input with 400 naming the field", async () => {
    const channel = `private-job-${jobId}`;
    const missing = await auth(adminToken, { channel_name: channel });
    expect(missing.status).toBe(400);
    expect(missing.body.errors).toEqual([expect.objectContaining({ field: "socket_id" })]);
    const badSocket = await auth(adminToken, { socket_id: "abc", channel_name: channel });
    expect(badSocket.status).toBe(400);
    expect(badSocket.body.errors[0].field).toBe("socket_id");
    const badChannel = await auth(adminToken, { socket_id: "1.2", channel_name: "a b<c>" });
    expect(badChannel.status).toBe(400);
    expect(badChannel.body.errors[0].field).toBe("channel_name");
    const notJson = await http(cp.url, "POST", "/api/pusher/auth", {
      bearer: adminToken,
      raw: "{nope",
    });
    expect(notJson.status).toBe(400);
    const wrongType = await auth(adminToken, { socket_id: 12, channel_name: channel }, false);
    expect(wrongType.status).toBe(400);
  });

  it("serves the page shell without secrets and keeps the token out of logs", async () => {
    const token = `drv_${randomUUID()}`;
    const res = await fetch(`${cp.url}/jobs/${jobId}?token=${token}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toMatch(/^text\/html/);
    expect(res.headers.get("referrer-policy")).toBe("no-referrer");
    expect(res.headers.get("content-security-policy")).toContain("script-src 'self'");
    const html = await res.text();
    expect(html).toContain(`data-job-id="${jobId}"`);
    expect(html).toContain('<script src="/static/web/pusher.min.js">');
    expect(html).toMatch(/<script type="module" src="\/static\/web\/[0-9a-f]{12}\/job-page\.js">/);
    expect(html).not.toContain(token);
    expect(html).not.toContain(APP_SECRET);
    const weird = await (await fetch(`${cp.url}/jobs/%22%3E%3Cscript%3E`)).text();
    expect(weird).not.toContain('"><script>');
    // The request log line has the URL, not the token.
    await new Promise((r) => setTimeout(r, 50));
    const lines = logs.filter((l) => l.includes(`/jobs/${jobId}`));
    expect(lines.length).toBeGreaterThan(0);
    expect(logs.join("")).not.toContain(token);
  });

  it("serves pusher-js and the page assets", async () => {
    const pusher = await fetch(`${cp.url}/static/web/pusher.min.js`);
    expect(pusher.status).toBe(200);
    expect(pusher.headers.get("content-type")).toMatch(/javascript/);
    expect(Buffer.from(await pusher.arrayBuffer())).toEqual(readFileSync(pusherBrowserBuildPath()));
    const html = await (await fetch(`${cp.url}/jobs/${jobId}`)).text();
    const version = /\/static\/web\/([0-9a-f]{12})\/job-page\.js/.exec(html)?.[1];
    expect(version).toBeDefined();
    const bundle = await loadWebBundle();
    expect(version).toBe(bundle.version);
    const js = await fetch(`${cp.url}/static/web/${version}/job-page.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get("cache-control")).toContain("immutable");
    const source = await js.text();
    expect(source).toContain("/api/pusher/auth");
    // One bundle: the ANSI renderer is inside, not imported.
    expect(source).not.toContain('from "./ansi.js"');
    expect(source).toContain("ansi-fg-");
    const ansi = await fetch(`${cp.url}/static/web/${version}/ansi.js`);
    expect(await ansi.text()).toContain("function createAnsiRenderer");
    // Another version or an unknown name is not served.
    expect((await fetch(`${cp.url}/static/web/000000000000/job-page.js`)).status).toBe(404);
    expect((await fetch(`${cp.url}/static/web/${version}/..%2Fpackage.json`)).status).toBe(404);
    const css = await fetch(`${cp.url}/static/web/${version}/job-page.css`);
    expect(css.status).toBe(200);
    expect(await css.text()).toContain(".ansi-fg-1");
  });

  it("gives the page the job and the pusher-js settings, to users who may see it", async () => {
    const res = await http(cp.url, "GET", `/web/v1/jobs/${jobId}`, { bearer: memberToken });
    expect(res.status).toBe(200);
    expect(res.body.job).toMatchObject({
      id: jobId,
      name: "build",
      project: { id: projectId, slug },
      web_url: expect.stringContaining(`/jobs/${jobId}`),
    });
    expect(res.body.job.pipeline_number).toBeGreaterThan(0);
    expect(res.body.pusher).toEqual({ key: APP_KEY, wsHost: null, wsPort: 8585, forceTLS: false });
    expect(JSON.stringify(res.body)).not.toContain(APP_SECRET);
    expect(
      (await http(cp.url, "GET", `/web/v1/jobs/${jobId}`, { bearer: outsiderToken })).status,
    ).toBe(404);
    expect(
      (await http(cp.url, "GET", `/web/v1/jobs/${randomUUID()}`, { bearer: adminToken })).status,
    ).toBe(404);
    expect((await http(cp.url, "GET", `/web/v1/jobs/${jobId}`)).status).toBe(401);
  });

  it("names the public Pusher settings in the app pages' shells, never the secret", async () => {
    const res = await fetch(`${cp.url}/projects/${slug}/webhooks`);
    expect(res.status).toBe(200);
    const html = await res.text();
    expect(html).toContain('data-page="webhooks"');
    expect(html).toContain('<script src="/static/web/pusher.min.js">');
    const live = /data-live="([^"]*)"/.exec(html)?.[1]?.replace(/&quot;/g, '"') ?? "null";
    expect(JSON.parse(live)).toEqual({ key: APP_KEY, wsHost: null, wsPort: 8585, forceTLS: false });
    expect(html).not.toContain(APP_SECRET);
  });

  it("publishes each committed workflow change on its project's channel", async () => {
    const events: Array<{ projectId: string; workflowId: string; status: string }> = [];
    const stop = publishWorkflowChanges(
      cp.engine,
      db,
      async (pid, e) => {
        events.push({ projectId: pid, workflowId: e.workflowId, status: e.status });
      },
      pino({ level: "silent" }),
    );
    try {
      const pipeline = await admin.trigger(slug, { branch: "main" });
      await cp.engine.idle();
      const wf = (await admin.pipelineWorkflows(pipeline.id)).items[0];
      await expect
        .poll(() => events.filter((e) => e.workflowId === wf?.id).length)
        .toBeGreaterThan(0);
      expect(events.every((e) => e.projectId === projectId)).toBe(true);
      await http(cp.url, "POST", `/api/v2/workflow/${wf?.id ?? ""}/cancel`, { token: adminToken });
      await expect
        .poll(() => events.some((e) => e.workflowId === wf?.id && e.status === "canceled"))
        .toBe(true);
    } finally {
      stop();
    }
    const after = events.length;
    await admin.trigger(slug, { branch: "main" });
    await cp.engine.idle();
    expect(events.length).toBe(after);
  });
});
