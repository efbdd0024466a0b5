/**
 * What the Chromium page tests share: a real `drover up` (startDrover with the instant scheduler),
 * an admin and a member who sign in with passwords, a headless Chromium, and per page: console
 * errors collected, the HTML scanned for every known secret, every form field labelled, and a
 * screenshot kept in `integration/test-results/screenshots/` (gitignored).
 */
import { execFileSync } from "node:child_process";
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import pino from "pino";
import { chromium, type Browser, type Page } from "playwright-core";
import { expect } from "vitest";
import {
  InstantScheduler,
  serverConfigSchema,
  startDrover,
  type ControlPlane,
  type Drover,
} from "@drover/control-plane";
import { DroverClient } from "@drover/cli";

export const CHROMIUM = "/usr/bin/chromium";
const CHROMIUM_ARGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
];
export const haveChromium = existsSync(CHROMIUM);
if (!haveChromium && process.env.CI === "true") {
  throw new Error(`${CHROMIUM} is missing (CI=true: failing, not skipping)`);
}

/** Where every page test keeps its screenshots. */
export const SCREENSHOTS = join(
  dirname(fileURLToPath(import.meta.url)),
  "../test-results/screenshots",
);

/** A repository with `.circleci/config.yml` = `config` on `main`. */
export function makeRepo(config: string): string {
  const dir = mkdtempSync(join(tmpdir(), "drover-web-repo-"));
  const env = {
    ...process.env,
    GIT_AUTHOR_NAME: "t",
    GIT_AUTHOR_EMAIL: "t@example.invalid",
    GIT_COMMITTER_NAME: "t",
    GIT_COMMITTER_EMAIL: "t@example.invalid",
  };
  execFileSync("git", ["init", "-q", "-b", "main"], { cwd: dir, env });
  mkdirSync(join(dir, ".circleci"));
  writeFileSync(join(dir, ".circleci/config.yml"), config);
  execFileSync("git", ["add", "-A"], { cwd: dir, env });
  execFileSync("git", ["commit", "-q", "-m", "init"], { cwd: dir, env });
  return dir;
}

export interface WebHarness {
  drover: Drover;
  cp: ControlPlane;
  browser: Browser;
  scheduler: InstantScheduler;
  /** The bootstrap admin's client and token. */
  admin: DroverClient;
  adminToken: string;
  adminPassword: string;
  memberPassword: string;
  /** Page errors and console errors seen so far. */
  errors: string[];
  /** Values no page may ever show; tests add theirs. */
  secrets: string[];
  /** Directories removed on close. */
  dirs: string[];
  /** Screenshots of this file go to `SCREENSHOTS/<prefix>-<name>.png`. */
  prefix: string;
  /** A page in a context of its own; `permissions` as Playwright grants them (e.g. clipboard). */
  newPage(width?: number, permissions?: string[]): Promise<Page>;
  signIn(page: Page, login: string, password: string, next?: string): Promise<void>;
  /** Waits for the page to load, checks it (secrets, labels) and screenshots it. */
  ready(page: Page, name: string): Promise<void>;
  shot(page: Page, name: string): Promise<void>;
  repo(config: string): string;
  close(): Promise<void>;
}

/** Starts the server, the users `webadmin` and `webmember`, and Chromium. */
export async function startWebHarness(prefix: string): Promise<WebHarness> {
  const dirs: string[] = [];
  const tmp = (p: string): string => {
    const d = mkdtempSync(join(tmpdir(), p));
    dirs.push(d);
    return d;
  };
  mkdirSync(SCREENSHOTS, { recursive: true });
  const scheduler = new InstantScheduler();
  const drover = await startDrover({
    config: serverConfigSchema.parse({
      port: 0,
      outputPort: 0,
      dataDir: tmp("drover-web-cp-"),
      tickIntervalMs: 0,
      scheduleTickMs: 0,
    }),
    logger: pino({ level: process.env.DROVER_TEST_LOG ?? "silent" }),
    env: {},
    scheduler,
  });
  const cp = drover.cp;
  const adminToken = cp.bootstrapToken ?? "";
  const adminPassword = `pw-${randomUUID()}`;
  const memberPassword = `pw-${randomUUID()}`;
  for (const [login, role, password] of [
    ["webadmin", "admin", adminPassword],
    ["webmember", "member", memberPassword],
  ] as const) {
    const res = await fetch(`${cp.url}/api/v2/admin/users`, {
      method: "POST",
      headers: { authorization: `Bearer ${adminToken}`, "content-type": "application/json" },
      body: JSON.stringify({ login, name: login, role, password }),
    });
    expect(res.status).toBeLessThan(300);
  }
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  console.log(`web page screenshots: ${SCREENSHOTS}`);
  const errors: string[] = [];
  const secrets = [adminPassword, memberPassword, adminToken];

  const shot = async (page: Page, name: string): Promise<void> => {
    await page.screenshot({ path: join(SCREENSHOTS, `${prefix}-${name}.png`), fullPage: true });
  };

  return {
    drover,
    cp,
    browser,
    scheduler,
    admin: new DroverClient(cp.url, adminToken),
    adminToken,
    adminPassword,
    memberPassword,
    errors,
    secrets,
    dirs,
    prefix,
    async newPage(width = 1100, permissions: string[] = []) {
      const page = await browser.newPage({ viewport: { width, height: 800 }, permissions });
      page.on("pageerror", (e) => errors.push(`${page.url()}: ${String(e)}`));
      page.on("console", (m) => {
        // A 401/404 the page turns into its error page is expected; anything else is not.
        if (m.type() === "error" && !/status of (401|404)/.test(m.text())) {
          errors.push(`${page.url()}: ${m.text()}`);
        }
      });
      return page;
    },
    async signIn(page, login, password, next = "") {
      await page.goto(`${cp.url}/login${next ? `?next=${encodeURIComponent(next)}` : ""}`);
      await page.getByLabel("Login").fill(login);
      await page.getByLabel("Password").fill(password);
      await page.getByRole("button", { name: "Sign in" }).click();
    },
    async ready(page, name) {
      await page.waitForFunction(() => document.body.dataset.state !== "loading", null, {
        timeout: 30_000,
      });
      const html = await page.content();
      for (const s of secrets) expect(html, `a secret on ${name}`).not.toContain(s);
      // Every form field has a name a screen reader announces.
      const unlabelled = await page.evaluate(() =>
        [...document.querySelectorAll("input, textarea, select")]
          .filter(
            (el) =>
              (el as HTMLInputElement).labels?.length === 0 &&
              !el.getAttribute("aria-label") &&
              !el.getAttribute("aria-labelledby"),
          )
          .map((el) => el.outerHTML),
      );
      expect(unlabelled, `unlabelled fields on ${name}`).toEqual([]);
      await shot(page, name);
    },
    shot,
    repo(config) {
      const dir = makeRepo(config);
      dirs.push(dir);
      return dir;
    },
    async close() {
      await browser.close();
      await drover.close();
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    },
  };
}
