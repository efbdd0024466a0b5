/**
 * Artifacts on their project's own origin: the API redirects to a signed, short-lived URL there;
 * HTML renders in a sandbox that cannot read the user's session or call the API as them (checked
 * in Chromium); altered, expired and foreign URLs are 403.
 */
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { chromium } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  InstantScheduler,
  createProject,
  projectLabel,
  serverConfigSchema,
  signedArtifactPath,
  startControlPlane,
  type ControlPlane,
} from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";
import type { JobPlan } from "@drover/config-compiler";
import { TaskApiClient } from "@drover/task-api";

const CHROMIUM = "/usr/bin/chromium";
if (!existsSync(CHROMIUM) && process.env.CI === "true") {
  throw new Error(`${CHROMIUM} is missing (CI=true: failing, not skipping); .ci/run installs it`);
}
const logger = pino({ level: "silent" });

const job: JobPlan = {
  name: "site",
  definition: "site",
  type: "build",
  requires: [],
  contexts: [],
  parallelism: 1,
  executor: { type: "docker", images: [{ image: "drover/debian:bookworm", environment: {} }] },
  steps: [],
  environment: {},
  workingDirectory: "~/project",
  resourceClass: "small",
};

/** GET `path` from the artifact server as the browser would, with `host` as the Host header. */
function getFrom(
  port: number,
  host: string,
  path: string,
): Promise<{ status: number; headers: Record<string, unknown>; body: string }> {
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: "127.0.0.1", port, path, headers: { host } }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.on("error", reject);
    req.end();
  });
}

describe("artifacts on their project's own origin", () => {
  let db: Database;
  let cp: ControlPlane;
  let dataDir = "";
  let slug = "";
  let number = 0;
  let token = "";

  beforeAll(async () => {
    dataDir = mkdtempSync(join(tmpdir(), "drover-artifacts-"));
    db = await openDatabase({});
    const scheduler = new InstantScheduler();
    cp = await startControlPlane({
      config: serverConfigSchema.parse({
        port: 0,
        dataDir,
        tickIntervalMs: 0,
        scheduleTickMs: 0,
        artifactsPort: 0,
      }),
      logger,
      db,
      scheduler,
      compile: () => ({
        plan: { version: "2.1", parameters: {}, workflows: [{ name: "wf", jobs: [job] }] },
        errors: [],
      }),
    });
    token = cp.bootstrapToken ?? "";
    const project = await createProject(db, {
      slug: "gh/acme/site",
      repositoryUrl: "file:///nonexistent",
      defaultBranch: "main",
    });
    slug = project.slug;
    await cp.trigger.trigger({
      project,
      triggerType: "api",
      actorId: null,
      branch: "main",
      revision: "0123456789abcdef0123456789abcdef01234567",
      configSource: "version: 2.1",
    });
    await cp.engine.idle();
    const [plan] = [...scheduler.submitted.values()];
    number = plan!.job.number;
    const agent = new TaskApiClient({ url: cp.url });
    await agent.claim(plan!.taskToken);
    const page = `<!doctype html><title>pending</title><script>
      const r = { origin: String(window.origin) };
      try { r.cookie = document.cookie; } catch (e) { r.cookie = "error:" + e.name; }
      try { localStorage.setItem("x", "1"); r.storage = "ok"; } catch (e) { r.storage = "error:" + e.name; }
      fetch(${JSON.stringify(cp.url)} + "/api/v2/me", { credentials: "include" })
        .then((x) => "status:" + x.status, (e) => "error:" + e.name)
        .then((v) => { r.api = v; document.title = JSON.stringify(r); });
    </script>`;
    await agent.putArtifact("site/index.html", page);
    await agent.putArtifact("data/numbers.txt", "1 2 3\n");
    await agent.close();
  });
  afterAll(async () => {
    await cp?.close();
    await db?.close();
  });

  const download = (node: number, path: string) =>
    fetch(`${cp.url}/api/v2/project/${slug}/${number}/artifacts/${node}/${path}`, {
      headers: { "Circle-Token": token },
      redirect: "manual",
    });

  it("redirects to a signed URL on the project's origin, which serves it with a sandbox", async () => {
    const res = await download(0, "site/index.html");
    expect(res.status).toBe(302);
    const to = new URL(res.headers.get("location") ?? "");
    expect(to.hostname).toBe(`${projectLabel(slug)}.localhost`);
    expect(to.origin).not.toBe(new URL(cp.url).origin);
    const port = Number(to.port);
    const html = await getFrom(port, to.host, to.pathname + to.search);
    expect(html.status).toBe(200);
    expect(html.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(String(html.headers["content-security-policy"])).toMatch(/^sandbox allow-scripts/);
    expect(html.headers["content-disposition"]).toBeUndefined();
    expect(html.body).toContain("<title>pending</title>");

    const txt = new URL((await download(0, "data/numbers.txt")).headers.get("location") ?? "");
    const file = await getFrom(port, txt.host, txt.pathname + txt.search);
    expect(file.body).toBe("1 2 3\n");
    expect(file.headers["content-disposition"]).toBe("attachment; filename*=UTF-8''numbers.txt");
    expect(file.headers["x-content-type-options"]).toBe("nosniff");

    // Altered, on another project's host, expired: 403 saying why.
    const altered = to.pathname.replace("index.html", "other.html") + to.search;
    expect(await getFrom(port, to.host, altered)).toMatchObject({ status: 403 });
    const foreign = await getFrom(
      port,
      `${projectLabel("gh/acme/other")}.localhost:${port}`,
      to.pathname + to.search,
    );
    expect(foreign.status).toBe(403);
    expect(JSON.parse(foreign.body)).toMatchObject({
      message: "the signature does not match this URL",
    });
    const key = Buffer.from(readFileSync(join(dataDir, "artifacts.key"), "utf8").trim());
    const jobId = to.pathname.split("/")[2]!;
    const stale = signedArtifactPath(key, {
      label: projectLabel(slug),
      jobId,
      node: 0,
      path: "site/index.html",
      expires: Math.floor(Date.now() / 1000) - 1,
    });
    const expired = await getFrom(port, to.host, stale);
    expect(expired.status).toBe(403);
    expect(JSON.parse(expired.body)).toMatchObject({ message: "the URL has expired" });
    expect((await download(0, "site/missing.html")).status).toBe(404);
  });

  it.skipIf(!existsSync(CHROMIUM))(
    "renders an HTML artifact in Chromium where it cannot read the session or call the API",
    { timeout: 60_000 },
    async () => {
      const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: [
          "--no-sandbox",
          "--disable-gpu",
          "--disable-quic",
          "--no-first-run",
          "--disable-background-networking",
          "--disable-component-update",
          "--disable-sync",
        ],
      });
      try {
        const context = await browser.newContext({ extraHTTPHeaders: { "Circle-Token": token } });
        const api = new URL(cp.url);
        await context.addCookies([
          { name: "drover_session", value: "secret-session", domain: api.hostname, path: "/" },
        ]);
        const page = await context.newPage();
        await page.goto(`${cp.url}/api/v2/project/${slug}/${number}/artifacts/0/site/index.html`);
        await page.waitForFunction(() => document.title !== "pending", undefined, {
          timeout: 30_000,
        });
        expect(new URL(page.url()).hostname).toBe(`${projectLabel(slug)}.localhost`);
        const seen = JSON.parse(await page.title()) as Record<string, string>;
        expect(seen.origin).toBe("null");
        expect(seen.cookie).not.toContain("secret-session");
        expect(seen.storage).toMatch(/^error:/);
        expect(seen.api).toMatch(/^error:/);
      } finally {
        await browser.close();
      }
    },
  );
});
