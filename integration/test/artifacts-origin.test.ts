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
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
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
import { S3TestServer } from "@drover/output-processor/objstore/testing";
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

interface Setup {
  cp: ControlPlane;
  db: Database;
  dataDir: string;
  slug: string;
  number: number;
  token: string;
}

/** A control plane with one job whose agent stored an HTML page and a text file. */
async function setup(extra: Record<string, unknown> = {}): Promise<Setup> {
  const dataDir = mkdtempSync(join(tmpdir(), "drover-artifacts-"));
  const db = await openDatabase({});
  const scheduler = new InstantScheduler();
  const cp = await startControlPlane({
    config: serverConfigSchema.parse({
      port: 0,
      dataDir,
      tickIntervalMs: 0,
      scheduleTickMs: 0,
      artifactsPort: 0,
      ...extra,
    }),
    logger,
    db,
    scheduler,
    compile: () => ({
      plan: { version: "2.1", parameters: {}, workflows: [{ name: "wf", jobs: [job] }] },
      errors: [],
    }),
  });
  const project = await createProject(db, {
    slug: "gh/acme/site",
    repositoryUrl: "file:///nonexistent",
    defaultBranch: "main",
  });
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
  return {
    cp,
    db,
    dataDir,
    slug: project.slug,
    number: plan!.job.number,
    token: cp.bootstrapToken ?? "",
  };
}

const downloadFrom = (s: Setup, node: number, path: string) =>
  fetch(`${s.cp.url}/api/v2/project/${s.slug}/${s.number}/artifacts/${node}/${path}`, {
    headers: { "Circle-Token": s.token },
    redirect: "manual",
  });

describe("artifacts on their project's own origin", () => {
  let s: Setup;
  let cp: ControlPlane;
  let dataDir = "";
  let slug = "";
  let number = 0;
  let token = "";

  beforeAll(async () => {
    s = await setup();
    ({ cp, dataDir, slug, number, token } = s);
  });
  afterAll(async () => {
    await s?.cp.close();
    await s?.db.close();
  });

  const download = (node: number, path: string) => downloadFrom(s, node, path);

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

describe("artifacts kept in S3-compatible storage", () => {
  let s3: S3TestServer;
  let s: Setup;
  beforeAll(async () => {
    s3 = await S3TestServer.start();
    // The blob store takes the SDK's credential chain: the environment here.
    vi.stubEnv("AWS_ACCESS_KEY_ID", s3.accessKeyId);
    vi.stubEnv("AWS_SECRET_ACCESS_KEY", s3.secretAccessKey);
    s = await setup({
      blobS3Bucket: s3.bucket,
      blobS3Endpoint: s3.url,
      blobS3Region: s3.region,
      blobS3Prefix: "drover",
    });
  });
  afterAll(async () => {
    await s?.cp.close();
    await s?.db.close();
    await s3?.close();
    vi.unstubAllEnvs();
  });

  it("redirects a file to a presigned bucket URL and still renders HTML on the project's origin", async () => {
    const file = await downloadFrom(s, 0, "data/numbers.txt");
    expect(file.status).toBe(302);
    const to = new URL(file.headers.get("location") ?? "");
    expect(to.origin).toBe(new URL(s3.url).origin);
    expect(to.searchParams.get("X-Amz-Expires")).toBe("300");
    const body = await fetch(to);
    expect(body.status).toBe(200);
    expect(await body.text()).toBe("1 2 3\n");
    expect(body.headers.get("content-disposition")).toBe(
      "attachment; filename*=UTF-8''numbers.txt",
    );
    const page = new URL(
      (await downloadFrom(s, 0, "site/index.html")).headers.get("location") ?? "",
    );
    expect(page.hostname).toBe(`${projectLabel(s.slug)}.localhost`);
    const html = await getFrom(Number(page.port), page.host, page.pathname + page.search);
    expect(html.status).toBe(200);
    expect(html.body).toContain("<title>pending</title>");
  });
});
