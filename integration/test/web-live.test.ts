/**
 * The pages against a real control plane, part two: live updates over the project's Pusher
 * channel (no reload, no poll), reruns from failed and with SSH, the webhooks page (its secret
 * checked through a signed delivery), "not found" on every page of a project a member cannot
 * see, no secret value on any page, phone width and keyboard use.
 */
import { execFileSync } from "node:child_process";
import { createHmac, randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { haveChromium, startWebHarness, type WebHarness } from "./web-harness.js";

const CONFIG = `version: 2.1
jobs:
  build:
    docker: [{image: drover/debian:bookworm}]
    steps: [{run: make}]
  test:
    docker: [{image: drover/debian:bookworm}]
    parallelism: 2
    steps: [{run: make test}]
workflows:
  main:
    jobs: [build, {test: {requires: [build]}}]
`;

const PARAM_CONFIG = `version: 2.1
parameters:
  greeting: {type: string, default: hi}
jobs:
  say:
    docker: [{image: drover/debian:bookworm}]
    steps: [{run: echo << pipeline.parameters.greeting >>}]
workflows:
  main:
    jobs: [{say: {filters: {tags: {only: /.*/}}}}]
`;

/** Less than the pages' fallback poll (30 s): what arrives this fast came over the socket. */
const LIVE_MS = 10_000;

interface Job {
  id: string;
  name: string;
  status: string;
  job_number?: number;
}

describe.skipIf(!haveChromium)("web pages: live updates, webhooks, access, secrets", () => {
  let t: WebHarness;

  beforeAll(async () => {
    t = await startWebHarness("live");
  }, 120_000);
  afterAll(async () => t?.close());

  const api = async <T>(method: string, path: string, body?: unknown): Promise<T> =>
    t.admin.request<T>(method, path, body);

  /** Marks the page's window; `sameDocument` is true while no reload happened. */
  const mark = (page: Page) =>
    page.evaluate(() => {
      (window as unknown as { droverMark: boolean }).droverMark = true;
    });
  const sameDocument = (page: Page) =>
    page.evaluate(() => (window as unknown as { droverMark?: boolean }).droverMark === true);
  const connected = (page: Page) =>
    page.waitForFunction(() => document.body.dataset.liveState === "connected", null, {
      timeout: LIVE_MS,
    });

  /** The task the engine submitted for `job` of `workflowId`. */
  const planOf = (workflowId: string, job: string) => {
    const plans = [...t.scheduler.submitted.values()].filter(
      (p) => p.workflow.id === workflowId && p.job.name === job,
    );
    if (plans.length === 0) throw new Error(`no task for ${job}`);
    return plans;
  };

  it("shows new pipelines and job status live, then reruns from failed and with SSH", async () => {
    const slug = `gh/acme/live-${randomUUID().slice(0, 8)}`;
    await t.admin.addProject({ slug, repository_url: `file://${t.repo(CONFIG)}` });

    // The pipelines page, open before anything runs.
    const list = await t.newPage();
    await list.goto(`${t.cp.url}/projects/${slug}?token=${t.adminToken}`);
    await t.ready(list, "pipelines-before");
    await connected(list);
    await mark(list);
    const triggered = await t.admin.trigger(slug, { branch: "main" });
    await t.cp.engine.idle();
    await list.waitForFunction(
      () =>
        document.querySelectorAll("#pipeline-list li").length === 1 &&
        (document.querySelector("#pipeline-list li")?.textContent ?? "").includes("main"),
      null,
      { timeout: LIVE_MS },
    );
    expect(await sameDocument(list)).toBe(true);
    await t.shot(list, "pipelines-live");

    const [wf] = (await t.admin.pipelineWorkflows(triggered.id)).items;
    if (!wf) throw new Error("no workflow");
    const page = await t.newPage();
    await page.goto(`${t.cp.url}/workflows/${wf.id}?token=${t.adminToken}`);
    await t.ready(page, "workflow-queued");
    await connected(page);
    await mark(page);
    const status = (job: string) =>
      page.evaluate(
        (name) =>
          [...document.querySelectorAll<HTMLElement>("#workflow-graph .node")].find((n) =>
            n.textContent?.includes(name),
          )?.dataset.status,
        job,
      );
    const waitStatus = (job: string, want: string) =>
      vi.waitFor(async () => expect(await status(job)).toBe(want), {
        timeout: LIVE_MS,
        interval: 100,
      });
    // Parallelism is visible on the node.
    expect(await page.textContent("#workflow-graph")).toContain("×2");

    // The agent claims build: running; it succeeds: test is queued; test's nodes fail.
    const [build] = planOf(wf.id, "build");
    await t.cp.tasks.claim(build?.taskToken ?? "");
    await waitStatus("build", "running");
    await t.shot(page, "workflow-live-running");
    await t.cp.tasks.events(build?.taskId ?? "", [
      { type: "task_finished", result: "success", at: new Date().toISOString() },
    ]);
    await t.cp.engine.idle();
    await waitStatus("build", "success");
    await waitStatus("test", "queued");
    for (const p of planOf(wf.id, "test")) {
      await t.cp.tasks.claim(p.taskToken);
      await t.cp.tasks.events(p.taskId, [
        { type: "task_finished", result: "failed", at: new Date().toISOString() },
      ]);
    }
    await t.cp.engine.idle();
    await waitStatus("test", "failed");
    await page.waitForFunction(
      () => document.getElementById("workflow-status")?.textContent === "failed",
      null,
      { timeout: LIVE_MS },
    );
    expect(await sameDocument(page)).toBe(true);
    await t.shot(page, "workflow-live-failed");
    // The pipelines page followed too.
    await list.waitForFunction(
      () => (document.querySelector("#pipeline-list li")?.textContent ?? "").includes("failed"),
      null,
      { timeout: LIVE_MS },
    );
    expect(await sameDocument(list)).toBe(true);
    await list.close();

    // Rerun from failed: a new workflow that runs test again and carries build.
    await page.getByRole("button", { name: "Rerun from failed" }).click();
    await page.waitForURL(
      (u) => u.pathname.startsWith("/workflows/") && !u.pathname.endsWith(wf.id),
      {
        timeout: 30_000,
      },
    );
    await t.ready(page, "workflow-rerun-from-failed");
    const fromFailed = page.url().split("/workflows/")[1] ?? "";
    await t.cp.engine.idle();
    expect(() => planOf(fromFailed, "build")).toThrow();
    // It fails again (a workflow reruns once it is final).
    for (const p of planOf(fromFailed, "test")) {
      await t.cp.tasks.claim(p.taskToken);
      await t.cp.tasks.events(p.taskId, [
        { type: "task_finished", result: "failed", at: new Date().toISOString() },
      ]);
    }
    await t.cp.engine.idle();
    await page.waitForFunction(
      () => document.getElementById("workflow-status")?.textContent === "failed",
      null,
      { timeout: LIVE_MS },
    );

    // Rerun test with SSH: the admin's key is registered; the new job has SSH enabled.
    const keyDir = mkdtempSync(join(tmpdir(), "drover-web-key-"));
    t.dirs.push(keyDir);
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", join(keyDir, "k")]);
    await api("POST", "/api/v2/me/ssh-keys", {
      title: "laptop",
      public_key: readFileSync(join(keyDir, "k.pub"), "utf8"),
    });
    await page.getByLabel("Select test").check();
    await page.getByRole("button", { name: "Rerun selected with SSH" }).click();
    await page.waitForURL(
      (u) => u.pathname.startsWith("/workflows/") && !u.pathname.endsWith(fromFailed),
      { timeout: 30_000 },
    );
    await t.ready(page, "workflow-rerun-ssh");
    const sshRerun = page.url().split("/workflows/")[1] ?? "";
    const jobs = (await t.admin.workflowJobs(sshRerun)).items as (Job & { enable_ssh?: boolean })[];
    expect(jobs.find((j) => j.name === "test")?.enable_ssh).toBe(true);
    await page.close();
    expect(t.errors).toEqual([]);
  }, 180_000);

  it("triggers with a tag and parameters through the page", async () => {
    const slug = `gh/acme/params-${randomUUID().slice(0, 8)}`;
    const repo = t.repo(PARAM_CONFIG);
    execFileSync("git", ["tag", "v1.2.3"], { cwd: repo });
    await t.admin.addProject({ slug, repository_url: `file://${repo}` });
    const page = await t.newPage();
    await page.goto(`${t.cp.url}/projects/${slug}?token=${t.adminToken}`);
    await t.ready(page, "trigger-form");
    await page.locator("#trigger").getByLabel("Tag").fill("v1.2.3");
    await page.getByLabel("Parameters (JSON)").fill('{"greeting": "yo"}');
    await page.getByRole("button", { name: "Trigger" }).click();
    await page.waitForURL(/\/pipelines\//, { timeout: 30_000 });
    const id = page.url().split("/pipelines/")[1] ?? "";
    const p = await t.admin.request<{
      vcs: { tag?: string };
      trigger_parameters: Record<string, unknown>;
    }>("GET", `/api/v2/pipeline/${id}`);
    expect(p.vcs.tag).toBe("v1.2.3");
    expect(p.trigger_parameters).toMatchObject({ greeting: "yo" });
    await t.cp.engine.idle();
    await t.ready(page, "triggered-tag");
    // Bad JSON is refused in the page, before any request.
    await page.goto(`${t.cp.url}/projects/${slug}`);
    await t.ready(page, "trigger-form-again");
    await page.getByLabel("Parameters (JSON)").fill("{not json");
    await page.getByRole("button", { name: "Trigger" }).click();
    await page.waitForFunction(() =>
      document.getElementById("flash")?.textContent?.includes("JSON object"),
    );
    expect((await t.admin.listPipelines(slug)).items).toHaveLength(1);
    await page.close();
    expect(t.errors).toEqual([]);
  }, 120_000);

  it("falls back to a slow poll while the socket is down", async () => {
    const slug = `gh/acme/poll-${randomUUID().slice(0, 8)}`;
    await t.admin.addProject({ slug, repository_url: `file://${t.repo(CONFIG)}` });
    const triggered = await t.admin.trigger(slug, { branch: "main" });
    await t.cp.engine.idle();
    const [wf] = (await t.admin.pipelineWorkflows(triggered.id)).items;
    if (!wf) throw new Error("no workflow");
    const page = await t.newPage();
    // The output-processor's WebSocket refuses this page; the page's clock is ours.
    await page.routeWebSocket(/\/app\//, (ws) => ws.close());
    await page.clock.install();
    await page.goto(`${t.cp.url}/workflows/${wf.id}?token=${t.adminToken}`);
    await t.ready(page, "poll-queued");
    const [build] = planOf(wf.id, "build");
    await t.cp.tasks.claim(build?.taskToken ?? "");
    await t.cp.engine.idle();
    await page.clock.runFor(5_000);
    expect(await page.evaluate(() => document.body.dataset.liveState)).not.toBe("connected");
    expect(
      await page.locator('#workflow-graph .node[data-status="running"]').count(),
      "no update without the socket before the poll",
    ).toBe(0);
    await page.clock.runFor(31_000);
    await page.waitForFunction(
      () => document.querySelector('#workflow-graph .node[data-status="running"]') !== null,
      null,
      { timeout: 10_000, polling: 100 },
    );
    await t.shot(page, "poll-running");
    await page.close();
    // pusher-js reports the refused socket on the console; nothing else may be there.
    expect(t.errors.splice(0).filter((e) => !/WebSocket/i.test(e))).toEqual([]);
  }, 120_000);

  it("shows the webhook URL and whether a secret is set; sets and rotates it", async () => {
    const slug = `gh/acme/hook-${randomUUID().slice(0, 8)}`;
    const repoName = slug.split("/").slice(1).join("/");
    await t.admin.addProject({ slug, repository_url: `file://${t.repo(CONFIG)}` });
    const secret = `hook-${randomUUID()}`;
    t.secrets.push(secret);
    // A GitHub ping signed with `key`: 200 when it is the project's secret, 401 otherwise.
    const ping = async (key: string) => {
      const raw = JSON.stringify({ zen: "hi", repository: { full_name: repoName } });
      const res = await fetch(`${t.cp.url}/hooks/github`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "ping",
          "x-hub-signature-256": `sha256=${createHmac("sha256", key).update(raw).digest("hex")}`,
        },
        body: raw,
      });
      return res.status;
    };

    const page = await t.newPage(1100, ["clipboard-read", "clipboard-write"]);
    await t.signIn(page, "webadmin", t.adminPassword, `/projects/${slug}/webhooks`);
    await page.waitForURL(new RegExp(`/projects/${slug}/webhooks$`), { timeout: 30_000 });
    await t.ready(page, "webhooks");
    expect(await page.textContent("#webhook-url-value")).toBe(`${t.cp.url}/hooks/github`);
    expect(await page.textContent("#webhook-secret-state")).toContain("set");

    await page.getByLabel("Secret").fill(secret);
    await page.getByRole("button", { name: "Save secret" }).click();
    await page.waitForFunction(() =>
      document.getElementById("flash")?.textContent?.includes("saved"),
    );
    await t.ready(page, "webhooks-set");
    expect(await page.inputValue("input[name=webhook_secret]")).toBe("");
    expect(await ping(secret)).toBe(200);
    expect(await ping("not-the-secret-0000")).toBe(401);

    // Generate and copy: the secret reaches the clipboard (for the host), not the screen.
    await page.getByRole("button", { name: "Generate and copy" }).click();
    await page.waitForFunction(() =>
      document.getElementById("flash")?.textContent?.includes("clipboard"),
    );
    const generated = await page.evaluate(() => navigator.clipboard.readText());
    expect(generated).toMatch(/^[0-9a-f]{64}$/);
    t.secrets.push(generated);
    await t.ready(page, "webhooks-generated");
    await page.getByRole("button", { name: "Save secret" }).click();
    await vi.waitFor(async () => expect(await ping(generated)).toBe(200), { timeout: 10_000 });
    expect(await ping(secret)).toBe(401);

    await page.getByRole("button", { name: "Rotate secret" }).click();
    await page.waitForFunction(() =>
      document.getElementById("flash")?.textContent?.includes("rotated"),
    );
    await t.ready(page, "webhooks-rotated");
    expect(await ping(generated)).toBe(401);
    // The project as the pages read it says a secret is set, never which.
    const p = await t.admin.request<Record<string, unknown>>("GET", `/api/v2/project/${slug}`);
    expect(p.webhook_secret_set).toBe(true);
    expect(p).not.toHaveProperty("webhook_secret");
    await page.close();
    expect(t.errors).toEqual([]);
  }, 120_000);

  it('a member without access sees "not found" on every page of the project', async () => {
    const slug = `gh/acme/private-${randomUUID().slice(0, 8)}`;
    await t.admin.addProject({ slug, repository_url: `file://${t.repo(CONFIG)}` });
    const triggered = await t.admin.trigger(slug, { branch: "main" });
    await t.cp.engine.idle();
    const [wf] = (await t.admin.pipelineWorkflows(triggered.id)).items;
    const [job] = (await t.admin.workflowJobs(wf?.id ?? "")).items;
    const page = await t.newPage(375);
    await t.signIn(page, "webmember", t.memberPassword);
    await page.waitForURL(/\/projects$/, { timeout: 30_000 });
    await t.ready(page, "member-projects");
    expect(await page.textContent("#project-list")).not.toContain(slug);
    const pages = {
      project: `/projects/${slug}`,
      settings: `/projects/${slug}/settings`,
      webhooks: `/projects/${slug}/webhooks`,
      schedules: `/projects/${slug}/schedules`,
      pipeline: `/pipelines/${triggered.id}`,
      workflow: `/workflows/${wf?.id ?? ""}`,
    };
    for (const [name, path] of Object.entries(pages)) {
      await page.goto(`${t.cp.url}${path}`);
      await t.ready(page, `member-${name}`);
      expect(await page.textContent("h1"), path).toBe("Not found");
    }
    // The job page has its own shell; it says the job is not found.
    await page.goto(`${t.cp.url}/jobs/${job?.id ?? ""}`);
    await page.waitForFunction(() => /not found/i.test(document.body.textContent ?? ""), null, {
      timeout: 30_000,
    });
    await t.shot(page, "member-job");
    // And the project's live channel is refused.
    const auth = await page.evaluate(
      async (projectPath) => {
        const r = await fetch("/api/pusher/auth", {
          method: "POST",
          body: new URLSearchParams({ socket_id: "1.1", channel_name: projectPath }),
        });
        return r.status;
      },
      `private-project-${(await t.admin.getProject(slug)).id}`,
    );
    expect(auth).toBe(403);
    await page.close();
    // The refused channel authorization above is the only 403 expected.
    expect(t.errors.splice(0).filter((e) => !/status of 403/.test(e))).toEqual([]);
  }, 120_000);

  it("shows no secret value on any page, fits a phone's width and works from the keyboard", async () => {
    const slug = `gh/acme/secrets-${randomUUID().slice(0, 8)}`;
    const org = slug.split("/").slice(0, 2).join("/");
    await t.admin.addProject({ slug, repository_url: `file://${t.repo(CONFIG)}` });
    const envSecret = `env-${randomUUID()}`;
    const ctxSecret = `ctx-${randomUUID()}`;
    const hookSecret = `hook-${randomUUID()}`;
    t.secrets.push(envSecret, ctxSecret, hookSecret);
    await api("POST", `/api/v2/project/${slug}/envvar`, { name: "API_KEY", value: envSecret });
    await api("PATCH", `/api/v2/project/${slug}/settings`, { webhook_secret: hookSecret });
    const ctx = await api<{ id: string }>("POST", "/api/v2/context", {
      name: `ctx-${randomUUID().slice(0, 6)}`,
      owner: { slug: org, type: "organization" },
    });
    await api("PUT", `/api/v2/context/${ctx.id}/environment-variable/TOKEN`, { value: ctxSecret });
    const triggered = await t.admin.trigger(slug, { branch: "main" });
    await t.cp.engine.idle();
    const [wf] = (await t.admin.pipelineWorkflows(triggered.id)).items;
    const [job] = (await t.admin.workflowJobs(wf?.id ?? "")).items;

    // Keyboard only: sign in with Tab and Enter.
    const page = await t.newPage(375);
    await page.goto(`${t.cp.url}/login`);
    await t.ready(page, "phone-login");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.tagName)).toBe("A");
    await page.getByLabel("Login").focus();
    await page.keyboard.type("webadmin");
    await page.keyboard.press("Tab");
    expect(await page.evaluate(() => document.activeElement?.getAttribute("name"))).toBe(
      "password",
    );
    await page.keyboard.type(t.adminPassword);
    await page.keyboard.press("Enter");
    await page.waitForURL(/\/projects$/, { timeout: 30_000 });

    const pages = {
      projects: "/projects",
      project: `/projects/${slug}`,
      settings: `/projects/${slug}/settings`,
      webhooks: `/projects/${slug}/webhooks`,
      schedules: `/projects/${slug}/schedules`,
      pipeline: `/pipelines/${triggered.id}`,
      workflow: `/workflows/${wf?.id ?? ""}`,
      contexts: `/organizations/${org}/contexts`,
      context: `/contexts/${ctx.id}`,
      "ssh-keys": "/account/ssh-keys",
      users: "/admin/users",
      audit: "/admin/audit-log",
      logout: "/logout",
    };
    for (const [name, path] of Object.entries(pages)) {
      await page.goto(`${t.cp.url}${path}`);
      await t.ready(page, `phone-${name}`);
      expect(await page.evaluate(() => document.body.dataset.state), path).toBe("ready");
      const overflow = await page.evaluate(
        () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
      );
      expect(overflow, `${path} overflows a 375 px screen`).toBeLessThanOrEqual(0);
    }
    // The job page too (its own shell).
    await page.goto(`${t.cp.url}/jobs/${job?.id ?? ""}`);
    await page.waitForSelector("#job-tabs", { timeout: 30_000 });
    for (const s of t.secrets) expect(await page.content()).not.toContain(s);
    await t.shot(page, "phone-job");

    // The audit log's filters (action, actor, time) and its CSV, through the page.
    await page.setViewportSize({ width: 1100, height: 800 });
    await page.goto(`${t.cp.url}/admin/audit-log`);
    await t.ready(page, "audit-all");
    const me = await t.admin.me();
    await page.getByLabel("Action").fill("project.env_var.create");
    await page.getByLabel("Actor id").fill(me.id);
    await page.getByLabel("From (ISO time)").fill(new Date(Date.now() - 3600_000).toISOString());
    await page.getByLabel("To (ISO time)").fill(new Date(Date.now() + 3600_000).toISOString());
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/action=project\.env_var\.create/);
    await t.ready(page, "audit-filtered");
    const rows = await page.locator("#audit-table tbody tr").allTextContents();
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.every((r) => r.includes("project.env_var.create"))).toBe(true);
    const csv = await page.getByRole("link", { name: "Download CSV" }).getAttribute("href");
    const res = await page.request.get(`${t.cp.url}${csv ?? ""}`);
    expect(res.status()).toBe(200);
    const text = await res.text();
    expect(text).toContain("project.env_var.create");
    expect(text).not.toContain("project.create,");
    for (const s of t.secrets) expect(text).not.toContain(s);
    await page.close();
    expect(t.errors).toEqual([]);
  }, 180_000);
});
