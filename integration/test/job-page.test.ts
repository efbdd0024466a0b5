/**
 * The job page in a real browser: headless Chromium (Debian's) loads `/jobs/{id}` from a control
 * plane during a running job and sees lines appear live, then a second load after the job shows
 * the history. Output goes through the real output-processor, pushed with the real `OutputClient`
 * for a task the engine created and the test claimed (the agent path is tested elsewhere).
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { chromium, type Browser, type Page } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  InstantScheduler,
  serverConfigSchema,
  startControlPlane,
  type ControlPlane,
} from "@drover/control-plane";
import { DroverClient } from "@drover/cli";
import { openDatabase } from "@drover/control-plane/db";
import { webRoutes } from "@drover/control-plane/web";
import {
  HmacTaskTokenVerifier,
  createOutputProcessor,
  signOutputToken,
  type OutputProcessor,
} from "@drover/output-processor";
import { OutputClient } from "@drover/output-processor/client";
import { generateSshKeyPair } from "@drover/vm-service";

const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === "true") {
  throw new Error(`${CHROMIUM} is missing (CI=true: failing, not skipping); .ci/run installs it`);
}

const CONFIG = `version: 2.1
jobs:
  build:
    docker: [{image: drover/debian:bookworm}]
    steps:
      - run: {name: Compile, command: make}
      - run: {name: Unit tests, command: make test}
workflows:
  main:
    jobs: [build]
`;

const logger = pino({ level: process.env.DROVER_TEST_LOG ?? "silent" });
const OUTPUT_SECRET = `out-${randomUUID()}`;
const APP_KEY = `key-${randomUUID().slice(0, 8)}`;
const APP_SECRET = `secret-${randomUUID()}`;
const READ_TOKEN = `read-${randomUUID()}`;

function makeRepo(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "drover-page-repo-"));
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@example.invalid",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@example.invalid",
  };
  execFileSync("git", ["init", "-q", "-b", "main"], { cwd: dir, env });
  for (const [p, text] of Object.entries(files)) {
    execFileSync("mkdir", ["-p", join(dir, p, "..")]);
    writeFileSync(join(dir, p), text);
  }
  execFileSync("git", ["add", "-A"], { cwd: dir, env });
  execFileSync("git", ["commit", "-q", "-m", "init"], { cwd: dir, env });
  return `file://${dir}`;
}

/** Text of each rendered log line of a step (by step name), in order. */
async function stepLines(page: Page, name: string): Promise<string[]> {
  return page.evaluate((stepName) => {
    const step = [...document.querySelectorAll("details.step")].find(
      (d) => d.querySelector(".name")?.textContent === stepName,
    );
    return step ? [...step.querySelectorAll(".log .line")].map((l) => l.textContent ?? "") : [];
  }, name);
}

/** Waits for `text` on the page; on timeout says what the page showed instead. */
async function waitText(page: Page, text: string): Promise<void> {
  try {
    await page.waitForFunction((t) => (document.body.textContent ?? "").includes(t), text, {
      timeout: 20_000,
    });
  } catch (err) {
    const state = await page.evaluate(() => ({
      conn: document.getElementById("conn-state")?.textContent,
      notice: document.getElementById("notice")?.textContent,
      tail: [...document.querySelectorAll(".log .line")].slice(-3).map((l) => l.textContent),
    }));
    throw new Error(`"${text}" did not appear; page: ${JSON.stringify(state)}`, { cause: err });
  }
}

describe.skipIf(!haveChromium)("job page in headless Chromium", () => {
  const dirs: string[] = [];
  let op: OutputProcessor;
  let cp: ControlPlane;
  let browser: Browser;
  let adminToken: string;
  let jobId: string;
  let client: OutputClient;
  let taskId: string;
  const scheduler = new InstantScheduler();
  const projectIds = new Map<string, string>();
  let admin: DroverClient;

  /** A new project running `config`; returns the tasks the engine submitted for it. */
  async function startPipeline(config: string) {
    const slug = `gh/acme/page-${randomUUID().slice(0, 8)}`;
    const repo = makeRepo({ ".circleci/config.yml": config });
    projectIds.set(slug, (await admin.addProject({ slug, repository_url: repo })).id);
    await admin.trigger(slug, { branch: "main" });
    await cp.engine.idle();
    const plans = [...scheduler.submitted.values()].filter((p) => p.project.slug === slug);
    if (plans.length === 0) throw new Error("the engine submitted no task");
    return plans.sort((a, b) => a.node.index - b.node.index);
  }

  /** Claims a task as its agent would and connects an output client with its token. */
  async function outputFor(plan: { taskId: string; taskToken: string }): Promise<OutputClient> {
    const { task } = await cp.tasks.claim(plan.taskToken);
    const c = new OutputClient({
      url: task.output.url,
      token: task.output.token,
      taskId: plan.taskId,
    });
    await c.connect();
    return c;
  }

  beforeAll(async () => {
    const tmp = (p: string) => {
      const d = mkdtempSync(join(tmpdir(), p));
      dirs.push(d);
      return d;
    };
    op = createOutputProcessor(
      {
        port: 0,
        host: "127.0.0.1",
        dataDir: tmp("drover-page-out-"),
        channelPrefix: `test-${randomUUID()}:`,
        // Small, so the parallel test's big node passes it and the page shows the cut.
        maxTaskBytes: 64 * 1024,
        chunkBytes: 4 * 1024,
        // And a short live window, so late pages read history from the store.
        windowEntries: 8,
        pusher: { appKey: APP_KEY, appSecret: APP_SECRET },
      },
      {
        logger,
        verifier: new HmacTaskTokenVerifier(OUTPUT_SECRET),
        // Only the control plane reads logs, with its read token.
        authorizeRead: async (req) => req.headers.authorization === `Bearer ${READ_TOKEN}`,
      },
    );
    const opPort = await op.listen();
    const db = await openDatabase({});
    cp = await startControlPlane({
      config: serverConfigSchema.parse({
        port: 0,
        dataDir: tmp("drover-page-cp-"),
        tickIntervalMs: 0,
        scheduleTickMs: 0,
        outputUrl: `http://127.0.0.1:${opPort}`,
        outputReadToken: READ_TOKEN,
      }),
      logger,
      db,
      scheduler,
      mintOutputToken: (taskId: string) => {
        const plan = scheduler.submitted.get(taskId);
        if (!plan) throw new Error(`no plan for ${taskId}`);
        return signOutputToken(OUTPUT_SECRET, {
          taskId,
          jobId: plan.job.id,
          projectId: projectIds.get(plan.project.slug) ?? "",
          expiresAt: Date.now() + 3_600_000,
        });
      },
      routes: [webRoutes({ appKey: APP_KEY, appSecret: APP_SECRET, wsPort: opPort })],
    });
    adminToken = cp.bootstrapToken ?? "";
    admin = new DroverClient(cp.url, adminToken);
    const [plan] = await startPipeline(CONFIG);
    if (!plan) throw new Error("no task");
    jobId = plan.job.id;
    taskId = plan.taskId;
    client = await outputFor(plan);
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  });

  afterAll(async () => {
    await browser?.close();
    await client?.close({ timeoutMs: 2000 }).catch(() => {});
    await cp?.close();
    await op?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it("shows lines live while the job runs, then the whole history on a later load", async () => {
    // Some output before the page opens: it comes as history.
    client.stepStarted(0, "Compile");
    for (let i = 1; i <= 20; i++) client.write(0, "out", `compile ${i}\n`);
    await client.flush();

    const page = await browser.newPage({ viewport: { width: 1100, height: 700 } });
    const errors: string[] = [];
    page.on("pageerror", (e) => errors.push(String(e)));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    await page.goto(`${cp.url}/jobs/${jobId}?token=${adminToken}`);
    // The token leaves the address bar at once.
    expect(page.url()).not.toContain("token");
    await page.waitForFunction(() => document.querySelectorAll(".log .line").length >= 20);
    await page.waitForFunction(() => document.getElementById("conn-state")?.textContent === "live");
    expect(await page.textContent("#job-name")).toContain("build");

    // Live: lines printed now appear, in order, once each; colours are rendered.
    for (let i = 21; i <= 60; i++) {
      client.write(0, i % 2 ? "out" : "err", `compile \x1b[32m${i}\x1b[0m\n`);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 30));
    }
    client.write(0, "out", "progress 10%\rprogress 100%\n");
    // A CRLF split across two frames is one line end, not a redraw.
    client.write(0, "out", "windows line\r");
    await client.flush();
    client.write(0, "out", "\n\x1b[33mcolour split\x1b[");
    await client.flush();
    client.write(0, "out", "0m across frames\r\n");
    client.stepFinished(0, 0, "success");
    client.stepStarted(1, "Unit tests");
    client.write(1, "out", "\x1b[1;31mFAIL\x1b[0m <b>not bold</b>\n");
    await waitText(page, "FAIL <b>not bold</b>");
    const live = await stepLines(page, "Compile");
    expect(live).toEqual([
      ...Array.from({ length: 60 }, (_, i) => `compile ${i + 1}`),
      "progress 100%",
      "windows line",
      "colour split across frames",
    ]);
    expect(await page.locator(".ansi-fg-2", { hasText: "42" }).count()).toBe(1);
    expect(await page.locator(".ansi-fg-3").allTextContents()).toEqual(["colour split"]);
    expect(await page.locator(".ansi-fg-1.ansi-bold", { hasText: "FAIL" }).count()).toBe(1);
    expect(await page.locator("details.step.success .name").textContent()).toBe("Compile");
    expect(await page.locator("details.step.running .name").textContent()).toBe("Unit tests");

    // Follow-tail: the page keeps the newest line in view.
    for (let i = 1; i <= 80; i++) client.write(1, "out", `test ${i}\n`);
    await waitText(page, "test 80");
    await page.waitForFunction(
      () => window.innerHeight + window.scrollY >= document.documentElement.scrollHeight - 40,
    );
    // Scrolling up stops following.
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForFunction(
      () => !(document.getElementById("follow") as HTMLButtonElement).hidden,
    );
    client.write(1, "out", "test 81\n");
    await waitText(page, "test 81");
    expect(await page.evaluate(() => window.scrollY)).toBe(0);

    // A reconnect resumes from the last seq shown: lines printed meanwhile arrive once, in order.
    await page.evaluate(() =>
      (
        window as unknown as { droverPage: { pusher: { disconnect(): void } } }
      ).droverPage.pusher.disconnect(),
    );
    for (let i = 82; i <= 90; i++) client.write(1, "out", `test ${i}\n`);
    await client.flush();
    await page.evaluate(() =>
      (
        window as unknown as { droverPage: { pusher: { connect(): void } } }
      ).droverPage.pusher.connect(),
    );
    await waitText(page, "test 90");
    expect(await stepLines(page, "Unit tests")).toEqual([
      "FAIL <b>not bold</b>",
      ...Array.from({ length: 90 }, (_, i) => `test ${i + 1}`),
    ]);

    // For a look by eye: DROVER_JOB_PAGE_SCREENSHOT=/tmp/page writes /tmp/page-{live,history}.png.
    const shots = process.env.DROVER_JOB_PAGE_SCREENSHOT;
    if (shots) await page.screenshot({ path: `${shots}-live.png` });

    client.write(1, "err", "make: *** [test] Error 2\n");
    client.stepFinished(1, 2, "failed");
    // The agent reports the end to the control plane too; the page then shows the job's status.
    const at = new Date().toISOString();
    await cp.tasks.events(taskId, [{ type: "task_finished", result: "failed", at }]);
    await cp.engine.idle();
    client.taskFinished("failed");
    await client.flush();
    await page.waitForFunction(() =>
      document.querySelector("details.step.failed .exit")?.textContent?.includes("exit 2"),
    );
    await page.waitForFunction(
      () => document.getElementById("job-status")?.textContent === "failed",
    );
    expect(errors).toEqual([]);
    await page.close();

    // History: a later load shows everything once, in order; the passed step starts collapsed.
    const later = await browser.newPage();
    await later.goto(`${cp.url}/jobs/${jobId}?token=${adminToken}`);
    await waitText(later, "Error 2");
    expect(await stepLines(later, "Compile")).toEqual(live);
    const tests = await stepLines(later, "Unit tests");
    expect(tests).toEqual([
      "FAIL <b>not bold</b>",
      ...Array.from({ length: 90 }, (_, i) => `test ${i + 1}`),
      "make: *** [test] Error 2",
    ]);
    expect(await later.locator("details.step.success").getAttribute("open")).toBeNull();
    expect(await later.locator("details.step.failed").getAttribute("open")).not.toBeNull();
    expect(await later.locator("details.step.success .duration").textContent()).toMatch(/\d/);
    if (shots) await later.screenshot({ path: `${shots}-history.png`, fullPage: true });
    await later.close();

    // Without a token (and no session) the page says how to sign in.
    const anon = await browser.newPage();
    await anon.goto(`${cp.url}/jobs/${jobId}`);
    await anon.waitForFunction(() => !(document.getElementById("notice") as HTMLElement).hidden);
    expect(await anon.textContent("#notice")).toContain("?token=");
    await anon.close();
  });
  it("shows parallel runs in order and where a big log was cut", async () => {
    const plans = await startPipeline(`version: 2.1
jobs:
  spread:
    docker: [{image: drover/debian:bookworm}]
    parallelism: 2
    steps:
      - run: {name: Shard, command: ./shard}
workflows:
  main:
    jobs: [spread]
`);
    expect(plans.map((p) => p.node.index)).toEqual([0, 1]);
    const [n0, n1] = await Promise.all(plans.map((p) => outputFor(p)));
    if (!n0 || !n1) throw new Error("no clients");
    n1.stepStarted(0, "Shard");
    const pad = "x".repeat(90);
    for (let i = 1; i <= 3000; i++) {
      n1.write(0, "out", `big ${i} ${pad}\n`);
      if (i % 50 === 0) await n1.flush(); // frames of ~5 KB, as a chatty job sends
    }
    n1.stepFinished(0, 0, "success");
    n1.taskFinished("success");
    n0.stepStarted(0, "Shard");
    n0.write(0, "out", "node zero\n");
    n0.stepFinished(0, 1, "failed");
    n0.taskFinished("failed");
    await Promise.all([n0.close({ timeoutMs: 5000 }), n1.close({ timeoutMs: 5000 })]);

    const page = await browser.newPage();
    await page.goto(`${cp.url}/jobs/${plans[0]?.job.id}?token=${adminToken}`);
    await waitText(page, "big 3000");
    await waitText(page, "node zero");
    const runs = await page.evaluate(() =>
      [...document.querySelectorAll(".task")].map((t) => ({
        title: t.querySelector("h2")?.textContent,
        lines: [...t.querySelectorAll(".log .line")].map((l) => l.textContent ?? ""),
        cut: [...t.querySelectorAll(".log .line.dropped")].map((l) => l.textContent ?? ""),
      })),
    );
    expect(runs.map((r) => r.title)).toEqual(["Parallel run 0", "Parallel run 1"]);
    expect(runs[0]?.lines).toEqual(["node zero"]);
    const big = runs[1];
    expect(big?.cut).toEqual([expect.stringMatching(/^… \d+ KiB of output dropped/)]);
    expect(big?.lines[0]).toBe(`big 1 ${pad}`);
    expect(big?.lines.at(-1)).toBe(`big 3000 ${pad}`);
    // Head and tail around the cut, each line once and in order.
    const nums = (big?.lines ?? [])
      .filter((l) => l.startsWith("big "))
      .map((l) => Number(l.split(" ")[1]));
    expect(nums.length).toBeLessThan(3000);
    expect(nums).toEqual([...nums].sort((a, b) => a - b));
    expect(new Set(nums).size).toBe(nums.length);
    const shots = process.env.DROVER_JOB_PAGE_SCREENSHOT;
    if (shots) {
      await page.evaluate(() => {
        for (const d of document.querySelectorAll("details")) d.open = true;
        document.querySelector(".line.dropped")?.scrollIntoView({ block: "center" });
      });
      await page.screenshot({ path: `${shots}-parallel.png` });
    }
    await page.close();

    // The page keeps a bounded number of lines per step, newest first, numbered as printed.
    const bounded = await browser.newPage();
    await bounded.addInitScript(() => {
      (window as unknown as { droverMaxLines: number }).droverMaxLines = 500;
    });
    await bounded.goto(`${cp.url}/jobs/${plans[0]?.job.id}?token=${adminToken}`);
    await waitText(bounded, "big 3000");
    const shown = await bounded.evaluate(() => {
      const log = document.querySelectorAll(".task")[1]?.querySelector(".log");
      const lines = [...(log?.querySelectorAll(".line") ?? [])];
      return {
        count: lines.length,
        first: lines[0]?.textContent,
        last: lines.at(-1)?.textContent,
        lastN: (lines.at(-1) as HTMLElement | undefined)?.dataset.n,
      };
    });
    expect(shown.count).toBeLessThanOrEqual(502);
    expect(shown.first).toMatch(/^… \d+ earlier lines of this step are not shown here/);
    expect(shown.last).toBe(`big 3000 ${pad}`);
    expect(Number(shown.lastN)).toBe(nums.length);
    await bounded.close();

    // A small history tail: only the end is shown, under a note that loads the rest on demand.
    const tail = await browser.newPage();
    await tail.addInitScript(() => {
      (window as unknown as { droverTailBytes: number }).droverTailBytes = 20_000;
    });
    await tail.goto(`${cp.url}/jobs/${plans[0]?.job.id}?token=${adminToken}`);
    await waitText(tail, "big 3000");
    await waitText(tail, "node zero");
    const tailView = () =>
      tail.evaluate(() => {
        const t = document.querySelectorAll(".task")[1];
        return {
          note: t?.querySelector(".skipped")?.textContent ?? null,
          step: t?.querySelector("details.step .name")?.textContent,
          lines: [...(t?.querySelectorAll(".log .line:not(.dropped)") ?? [])].map(
            (l) => l.textContent ?? "",
          ),
          cut: t?.querySelectorAll(".log .line.dropped").length,
        };
      });
    const before = await tailView();
    expect(before.note).toMatch(
      /^… \d+ KiB of earlier output not shown — load all · download raw$/,
    );
    // "download raw" saves the node's whole stored log, served by the control plane.
    const [download] = await Promise.all([
      tail.waitForEvent("download"),
      tail.click(".task:nth-child(2) .skipped a.download"),
    ]);
    const saved = readFileSync(await download.path(), "utf8");
    expect(download.suggestedFilename()).toMatch(/-node-1\.log$/);
    expect(saved).toContain(`big 1 ${pad}\n`);
    expect(saved).toContain(`big 3000 ${pad}\n`);
    // The step's header was left out with the history; the page names it from the job's steps,
    // which this harness never reports (no agent), so by number.
    expect(before.step).toBe("Step 0");
    expect(before.lines.length).toBeGreaterThan(100);
    expect(before.lines.length).toBeLessThan(400);
    expect(before.lines.at(-1)).toBe(`big 3000 ${pad}`);
    expect(before.cut).toBe(0);
    await tail.click(".task:nth-child(2) .skipped a");
    await tail.waitForFunction(() => {
      const t = document.querySelectorAll(".task")[1];
      return t?.querySelector(".log .line")?.textContent?.startsWith("big 1 ") ?? false;
    });
    await waitText(tail, "big 3000");
    const after = await tailView();
    expect(after.note).toBeNull();
    const afterNums = after.lines.map((l) => Number(l.split(" ")[1]));
    expect(afterNums).toEqual(nums);
    expect(after.cut).toBe(1);
    // The other run kept its lines once.
    expect(
      await tail.evaluate(() =>
        [...(document.querySelectorAll(".task")[0]?.querySelectorAll(".log .line") ?? [])].map(
          (l) => l.textContent,
        ),
      ),
    ).toEqual(["node zero"]);
    await tail.close();
  });
  it("offers Rerun with SSH on a failed job and starts one with the user's keys", async () => {
    const [plan] = await startPipeline(CONFIG);
    await cp.tasks.claim(plan!.taskToken);
    await cp.tasks.events(plan!.taskId, [
      { type: "task_finished", result: "failed", at: new Date().toISOString() },
    ]);
    await cp.engine.idle();
    const key = generateSshKeyPair("page-user");
    const added = await fetch(`${cp.url}/api/v2/me/ssh-keys`, {
      method: "POST",
      headers: { "Circle-Token": adminToken, "content-type": "application/json" },
      body: JSON.stringify({ public_key: key.publicKey }),
    });
    expect(added.status).toBeLessThan(300);
    const page = await browser.newPage();
    await page.goto(`${cp.url}/jobs/${plan!.job.id}?token=${adminToken}`);
    const button = page.locator("#rerun-ssh");
    await button.waitFor({ state: "visible", timeout: 30_000 });
    await button.click();
    await page.waitForFunction(
      () => document.getElementById("notice")?.textContent?.startsWith("Rerunning ") ?? false,
      undefined,
      { timeout: 30_000 },
    );
    const text = (await page.locator("#notice").textContent()) ?? "";
    const wf = /workflow ([0-9a-f-]{36})/.exec(text)?.[1];
    expect(wf).toBeDefined();
    await cp.engine.idle();
    const rerun = [...scheduler.submitted.values()].filter((p) => p.workflow.id === wf);
    expect(rerun.map((p) => [p.job.name, p.sshEnabled])).toEqual([["build", true]]);
    const { task } = await cp.tasks.claim(rerun[0]!.taskToken);
    // Stored without the comment.
    expect(task.ssh.authorizedKeys).toEqual([key.publicKey.split(" ").slice(0, 2).join(" ")]);
    await page.close();
  });
});
