/**
 * The control plane's pages in headless Chromium against a real control plane: sign in and out,
 * add a project, trigger a pipeline, follow it to the workflow graph, cancel and rerun through the
 * page (checked through the API), "not found" for a member without access, no console errors and
 * no secret on any page. Screenshots: `integration/test-results/screenshots/` (see the output).
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import type { ControlPlane } from "@drover/control-plane";
import type { DroverClient } from "@drover/cli";
import { haveChromium, startWebHarness, type WebHarness } from "./web-harness.js";

const CONFIG = `version: 2.1
jobs:
  build:
    docker: [{image: drover/debian:bookworm}]
    steps: [{run: make}]
  test:
    docker: [{image: drover/debian:bookworm}]
    steps: [{run: make test}]
workflows:
  main:
    jobs: [build, {test: {requires: [build]}}]
`;

const APPROVAL_CONFIG = `version: 2.1
jobs:
  deploy:
    docker: [{image: drover/debian:bookworm}]
    steps: [{run: make deploy}]
workflows:
  release:
    jobs: [{hold: {type: approval}}, {deploy: {requires: [hold]}}]
`;

describe.skipIf(!haveChromium)("web pages in headless Chromium", () => {
  let t: WebHarness;
  let cp: ControlPlane;
  let admin: DroverClient;
  let adminToken: string;
  let errors: string[];
  let secrets: string[];
  let ADMIN_PASSWORD: string;
  let MEMBER_PASSWORD: string;
  const newPage = (width?: number): Promise<Page> => t.newPage(width);
  const signIn = (page: Page, login: string, password: string, next = ""): Promise<void> =>
    t.signIn(page, login, password, next);
  const ready = (page: Page, name: string): Promise<void> => t.ready(page, name);
  const makeRepo = (config = CONFIG): string => t.repo(config);

  beforeAll(async () => {
    t = await startWebHarness("pages");
    ({ cp, admin, adminToken, errors, secrets } = t);
    ADMIN_PASSWORD = t.adminPassword;
    MEMBER_PASSWORD = t.memberPassword;
  }, 120_000);

  afterAll(async () => t?.close());

  it("signs in, adds a project, triggers, cancels and reruns through the pages", async () => {
    const page = await newPage();
    await signIn(page, "webadmin", ADMIN_PASSWORD);
    await page.waitForURL(/\/projects$/, { timeout: 30_000 });
    await ready(page, "projects");
    await page.getByRole("link", { name: "Audit log" }).waitFor({ timeout: 30_000 });

    // Add a project through the form; the API sees it.
    const slug = `gh/acme/web-${randomUUID().slice(0, 8)}`;
    const repo = makeRepo();
    await page.getByLabel("Slug").fill(slug);
    await page.getByLabel("Repository URL").fill(`file://${repo}`);
    await page.getByRole("button", { name: "Add project" }).click();
    await page.waitForURL(new RegExp(`/projects/${slug}$`), { timeout: 30_000 });
    await ready(page, "project-empty");
    expect((await admin.getProject(slug)).slug).toBe(slug);

    // Trigger through the page: it opens the new pipeline; the API lists it.
    await page.locator("#trigger").getByLabel("Branch").fill("main");
    await page.getByRole("button", { name: "Trigger" }).click();
    await page.waitForURL(/\/pipelines\//, { timeout: 30_000 });
    const pipelines = await admin.listPipelines(slug);
    expect(pipelines.items).toHaveLength(1);
    await cp.engine.idle();
    await page.reload();
    await ready(page, "pipeline");
    await page.getByRole("link", { name: "main" }).click();
    await page.waitForURL(/\/workflows\//);
    await ready(page, "workflow");
    const workflowId = page.url().split("/workflows/")[1] ?? "";

    // The graph: one node per job and an edge for `requires`.
    await page.waitForFunction(
      () => document.querySelectorAll("#workflow-graph .node").length === 2,
    );
    await vi.waitFor(
      async () => expect(await page.locator("#workflow-graph svg line").count()).toBe(1),
      { timeout: 20_000 },
    );

    // Live: the build job starts (its agent claims the task) and the open page shows it running.
    const plan = [...t.scheduler.submitted.values()].find(
      (p) => p.project.slug === slug && p.job.name === "build",
    );
    if (!plan) throw new Error("the engine submitted no build task");
    await cp.tasks.claim(plan.taskToken);
    await page.waitForFunction(
      () =>
        document
          .querySelector('#workflow-graph .node[data-status="running"]')
          ?.textContent?.includes("build"),
      null,
      { timeout: 30_000 },
    );
    await t.shot(page, "workflow-running");

    // Cancel through the page; the API and then the page (live) show it canceled.
    await page.getByRole("button", { name: "Cancel" }).click();
    await vi.waitFor(
      async () => expect((await admin.workflow(workflowId)).status).toBe("canceled"),
      {
        timeout: 30_000,
      },
    );
    await page.waitForFunction(
      () => document.getElementById("workflow-status")?.textContent === "canceled",
      null,
      { timeout: 30_000 },
    );
    await t.shot(page, "workflow-canceled");

    // Rerun all: a new workflow whose page opens.
    await page.getByRole("button", { name: "Rerun all" }).click();
    await page.waitForURL(
      (u) => u.pathname.startsWith("/workflows/") && !u.pathname.endsWith(workflowId),
      {
        timeout: 30_000,
      },
    );
    const rerunId = page.url().split("/workflows/")[1] ?? "";
    expect((await admin.workflow(rerunId)).name).toBe("main");
    await ready(page, "workflow-rerun");

    // The job page has tabs for test results and artifacts beside the output.
    await page.getByRole("link", { name: "build" }).click();
    await page.waitForURL(/\/jobs\//);
    await page.waitForSelector("#job-tabs", { timeout: 30_000 });
    await page.getByRole("tab", { name: /^Tests/ }).click();
    expect(await page.isVisible("#tab-tests")).toBe(true);
    expect(await page.isVisible("#tasks")).toBe(false);
    expect(await page.textContent("#tab-tests")).toContain("No test results.");
    await page.getByRole("tab", { name: /^Artifacts/ }).click();
    expect(await page.textContent("#tab-artifacts")).toContain("No artifacts.");
    await t.shot(page, "job-tabs");
    await page.goBack();
    await ready(page, "workflow-rerun-back");

    // Phone width: the page still renders its graph.
    await page.setViewportSize({ width: 375, height: 740 });
    await t.shot(page, "workflow-phone");

    // Sign out, then a page asks to sign in.
    await page.goto(`${cp.url}/logout`);
    await ready(page, "logout");
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.waitForURL(/\/login$/);
    await page.goto(`${cp.url}/projects`);
    await ready(page, "signed-out");
    expect(await page.textContent("h1")).toBe("Sign in required");
    await page.close();
    expect(errors).toEqual([]);
  }, 180_000);

  it("manages masked environment variables and shows the audit log", async () => {
    const slug = `gh/acme/settings-${randomUUID().slice(0, 8)}`;
    const repo = makeRepo();
    await admin.addProject({ slug, repository_url: `file://${repo}` });
    const secret = `s3cret-${randomUUID()}`;
    secrets.push(secret);
    const api = async (path: string) => {
      const res = await fetch(`${cp.url}${path}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      return { status: res.status, body: (await res.json()) as { items: { name: string }[] } };
    };

    const page = await newPage(375);
    await signIn(page, "webadmin", ADMIN_PASSWORD, `/projects/${slug}/settings`);
    await page.waitForURL(new RegExp(`/projects/${slug}/settings$`), { timeout: 30_000 });
    await ready(page, "settings-empty");
    await page.getByLabel("Name").fill("DEPLOY_KEY");
    await page.getByLabel("Value").fill(secret);
    await page.getByRole("button", { name: "Add variable" }).click();
    await page.waitForFunction(
      () => document.querySelectorAll("#envvar-list li").length === 1,
      null,
      {
        timeout: 30_000,
      },
    );
    await ready(page, "settings-envvar");
    expect((await api(`/api/v2/project/${slug}/envvar`)).body.items.map((v) => v.name)).toEqual([
      "DEPLOY_KEY",
    ]);
    expect(await page.textContent("#envvar-list")).not.toContain(secret);

    await page.getByRole("button", { name: "Delete DEPLOY_KEY" }).click();
    await vi.waitFor(
      async () => expect((await api(`/api/v2/project/${slug}/envvar`)).body.items).toEqual([]),
      { timeout: 30_000 },
    );

    // The page reloads after the delete and shows the empty list.
    await page.waitForFunction(
      () =>
        document.body.dataset.state === "ready" &&
        (document.body.textContent ?? "").includes("No environment variables."),
      null,
      { timeout: 30_000 },
    );
    await page.goto(`${cp.url}/admin/audit-log?action=project.create`);
    await ready(page, "audit-log");
    const rows = await page.locator("#audit-table tbody tr").allTextContents();
    expect(rows.some((r) => r.includes("project.create") && r.includes(slug))).toBe(true);
    expect(rows.every((r) => r.includes("project.create"))).toBe(true);
    const csv = await page.getByRole("link", { name: "Download CSV" }).getAttribute("href");
    const res = await page.request.get(`${cp.url}${csv ?? ""}`);
    expect(res.status()).toBe(200);
    expect(await res.text()).toContain(slug);
    await page.close();
    expect(errors).toEqual([]);
  }, 120_000);

  it("approves a held job and reruns a selected job through the workflow page", async () => {
    const slug = `gh/acme/approve-${randomUUID().slice(0, 8)}`;
    const repo = makeRepo(APPROVAL_CONFIG);
    await admin.addProject({ slug, repository_url: `file://${repo}` });
    const triggered = await admin.trigger(slug, { branch: "main" });
    await cp.engine.idle();
    const [wf] = (await admin.pipelineWorkflows(triggered.id)).items;
    if (!wf) throw new Error("no workflow");

    const page = await newPage();
    await signIn(page, "webadmin", ADMIN_PASSWORD, `/workflows/${wf.id}`);
    await page.waitForURL(new RegExp(`/workflows/${wf.id}$`), { timeout: 30_000 });
    await ready(page, "workflow-on-hold");
    await page.getByRole("button", { name: "Approve hold" }).click();
    await vi.waitFor(
      async () => {
        const jobs = (await admin.workflowJobs(wf.id)).items;
        expect(jobs.find((j) => j.name === "hold")?.status).toBe("success");
        expect(jobs.find((j) => j.name === "deploy")?.status).not.toBe("blocked");
      },
      { timeout: 30_000 },
    );
    // The page redraws with the approval.
    await page.waitForFunction(
      () => document.querySelector('#workflow-graph .node[data-status="success"]') !== null,
      null,
      { timeout: 30_000 },
    );
    await t.shot(page, "workflow-approved");

    await page.getByRole("button", { name: "Cancel" }).click();
    await vi.waitFor(async () => expect((await admin.workflow(wf.id)).status).toBe("canceled"), {
      timeout: 30_000,
    });
    await page.getByLabel("Select deploy").check();
    await page.getByRole("button", { name: "Rerun selected", exact: true }).click();
    await page.waitForURL(
      (u) => u.pathname.startsWith("/workflows/") && !u.pathname.endsWith(wf.id),
      {
        timeout: 30_000,
      },
    );
    await ready(page, "workflow-rerun-selected");
    const rerunId = page.url().split("/workflows/")[1] ?? "";
    const rerunJobs = (await admin.workflowJobs(rerunId)).items.map((j) => j.name);
    expect(rerunJobs).toContain("deploy");
    await page.close();
    expect(errors).toEqual([]);
  }, 120_000);

  it("manages organization contexts (masked) and users through the admin pages", async () => {
    const org = `acme${randomUUID().slice(0, 6)}`;
    const repo = makeRepo();
    // An organization exists once a project of it does.
    await admin.addProject({ slug: `gh/${org}/app`, repository_url: `file://${repo}` });
    const secret = `ctx-${randomUUID()}`;
    secrets.push(secret);
    const get = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${cp.url}${path}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(res.status).toBe(200);
      return (await res.json()) as T;
    };

    const page = await newPage();
    await signIn(page, "webadmin", ADMIN_PASSWORD, `/organizations/gh/${org}/contexts`);
    await page.waitForURL(/\/contexts$/, { timeout: 30_000 });
    await ready(page, "contexts-empty");
    await page.getByLabel("Name").fill("deploy");
    await page.getByRole("button", { name: "Add context" }).click();
    await page.waitForURL(/\/contexts\/[^/]+$/, { timeout: 30_000 });
    await ready(page, "context-empty");
    const contextId = page.url().split("/contexts/")[1] ?? "";
    await page.getByLabel("Name").fill("TOKEN");
    await page.getByLabel("Value").fill(secret);
    await page.getByRole("button", { name: "Add variable" }).click();
    await page.waitForFunction(
      () => document.querySelectorAll("#context-var-list li").length === 1,
      null,
      {
        timeout: 30_000,
      },
    );
    await ready(page, "context-var");
    const vars = await get<{ items: { variable: string }[] }>(
      `/api/v2/context/${contextId}/environment-variable`,
    );
    expect(vars.items.map((v) => v.variable)).toEqual(["TOKEN"]);

    await page.goto(`${cp.url}/admin/users`);
    await ready(page, "users");
    const newPassword = `pw-${randomUUID()}`;
    secrets.push(newPassword);
    await page.getByLabel("Login").fill("webnew");
    await page.getByLabel("Password").fill(newPassword);
    await page.getByRole("button", { name: "Add user" }).click();
    await page.waitForFunction(
      () => (document.getElementById("user-list")?.textContent ?? "").includes("webnew"),
      null,
      {
        timeout: 30_000,
      },
    );
    await ready(page, "users-added");
    const users = await get<{ items: { login: string; role: string }[] }>("/api/v2/admin/users");
    expect(users.items.find((u) => u.login === "webnew")?.role).toBe("member");
    await page.getByRole("button", { name: "Delete webnew" }).click();
    await vi.waitFor(
      async () =>
        expect(
          (await get<{ items: { login: string }[] }>("/api/v2/admin/users")).items.map(
            (u) => u.login,
          ),
        ).not.toContain("webnew"),
      { timeout: 30_000 },
    );
    await page.waitForFunction(
      () =>
        document.body.dataset.state === "ready" &&
        !(document.getElementById("user-list")?.textContent ?? "").includes("webnew"),
      null,
      { timeout: 30_000 },
    );
    await page.close();
    expect(errors).toEqual([]);
  }, 120_000);

  it("adds and deletes an SSH key and a schedule through the pages", async () => {
    const keyDir = mkdtempSync(join(tmpdir(), "drover-web-key-"));
    t.dirs.push(keyDir);
    execFileSync("ssh-keygen", [
      "-q",
      "-t",
      "ed25519",
      "-N",
      "",
      "-C",
      "web-test",
      "-f",
      join(keyDir, "k"),
    ]);
    const publicKey = readFileSync(join(keyDir, "k.pub"), "utf8");
    const slug = `gh/acme/sched-${randomUUID().slice(0, 8)}`;
    const repo = makeRepo();
    await admin.addProject({ slug, repository_url: `file://${repo}` });
    const get = async <T>(path: string): Promise<T> => {
      const res = await fetch(`${cp.url}${path}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(res.status).toBe(200);
      return (await res.json()) as T;
    };

    // The bootstrap token is the admin's: its keys are the page's keys.
    const page = await newPage(375);
    await page.goto(`${cp.url}/account/ssh-keys?token=${adminToken}`);
    expect(page.url()).not.toContain("token=");
    await ready(page, "ssh-keys-empty");
    await page.getByLabel("Public key").fill(publicKey);
    await page.getByLabel("Title").fill("laptop");
    await page.getByRole("button", { name: "Add key" }).click();
    await page.waitForFunction(
      () => document.querySelectorAll("#ssh-key-list li").length === 1,
      null,
      {
        timeout: 30_000,
      },
    );
    await ready(page, "ssh-keys");
    const keys = await get<{ items: { title: string }[] }>("/api/v2/me/ssh-keys");
    expect(keys.items.map((k) => k.title)).toEqual(["laptop"]);
    await page.getByRole("button", { name: "Delete laptop" }).click();
    await vi.waitFor(
      async () =>
        expect((await get<{ items: unknown[] }>("/api/v2/me/ssh-keys")).items).toEqual([]),
      { timeout: 30_000 },
    );
    await page.waitForFunction(() => (document.body.textContent ?? "").includes("No keys."), null, {
      timeout: 30_000,
    });

    await page.goto(`${cp.url}/projects/${slug}/schedules`);
    await ready(page, "schedules-empty");
    await page.getByLabel("Name").fill("nightly");
    await page.getByLabel("Hours of day (UTC, comma separated)").fill("2, 14");
    await page.getByRole("button", { name: "Add schedule" }).click();
    await page.waitForFunction(
      () => document.querySelectorAll("#schedule-list li").length === 1,
      null,
      {
        timeout: 30_000,
      },
    );
    await ready(page, "schedules");
    const scheds = await get<{
      items: { name: string; timetable: { "hours-of-day": number[] } }[];
    }>(`/api/v2/project/${slug}/schedule`);
    expect(scheds.items.map((x) => [x.name, x.timetable["hours-of-day"]])).toEqual([
      ["nightly", [2, 14]],
    ]);
    await page.getByRole("button", { name: "Delete nightly" }).click();
    await vi.waitFor(
      async () =>
        expect((await get<{ items: unknown[] }>(`/api/v2/project/${slug}/schedule`)).items).toEqual(
          [],
        ),
      { timeout: 30_000 },
    );
    await page.waitForFunction(
      () => (document.body.textContent ?? "").includes("No schedules."),
      null,
      {
        timeout: 30_000,
      },
    );
    await page.close();
    expect(errors).toEqual([]);
  }, 120_000);

  it("lists pipelines newest first and filters them by branch", async () => {
    const slug = `gh/acme/list-${randomUUID().slice(0, 8)}`;
    const repo = makeRepo();
    execFileSync("git", ["branch", "feature"], { cwd: repo });
    await admin.addProject({ slug, repository_url: `file://${repo}` });
    await admin.trigger(slug, { branch: "main" });
    await admin.trigger(slug, { branch: "feature" });
    await cp.engine.idle();

    const page = await newPage(375);
    await page.goto(`${cp.url}/projects/${slug}?token=${adminToken}`);
    await ready(page, "pipelines");
    const rows = await page.locator("#pipeline-list li").allTextContents();
    expect(rows.map((r) => r.split(" ")[0])).toEqual(["#2", "#1"]);
    await page.getByRole("search").getByLabel("Branch").fill("main");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.waitForURL(/\?branch=main$/);
    await ready(page, "pipelines-main");
    const filtered = await page.locator("#pipeline-list li").allTextContents();
    expect(filtered).toHaveLength(1);
    expect(filtered[0]).toContain("#1");
    expect(filtered[0]).toContain("main");
    await page.close();
    expect(errors).toEqual([]);
  }, 120_000);

  it('shows "not found" to a member without access and the unreachable page when the server is gone', async () => {
    const slug = `gh/acme/hidden-${randomUUID().slice(0, 8)}`;
    const repo = makeRepo();
    await admin.addProject({ slug, repository_url: `file://${repo}` });
    const page = await newPage(375);
    await signIn(page, "webmember", MEMBER_PASSWORD, `/projects/${slug}`);
    await page.waitForURL(new RegExp(`/projects/${slug}$`), { timeout: 30_000 });
    await ready(page, "member-not-found");
    expect(await page.textContent("h1")).toBe("Not found");

    // Unknown page ids are "not found" too.
    await page.goto(`${cp.url}/workflows/${randomUUID()}`);
    await ready(page, "workflow-not-found");
    expect(await page.textContent("h1")).toBe("Not found");

    // Server unreachable: the API calls fail at the network level.
    await page.route("**/api/v2/**", (r) => r.abort("connectionrefused"));
    await page.goto(`${cp.url}/projects`);
    await ready(page, "unreachable");
    expect(await page.textContent("h1")).toBe("Server unreachable");
    await page.close();
    expect(errors.filter((e) => !e.includes("ERR_CONNECTION_REFUSED"))).toEqual([]);
  }, 120_000);
});
