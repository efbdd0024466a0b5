/**
 * `drover up --tls --run DIR` as a user runs it (the built CLI in a child process): a local CA and
 * server certificate are made on first start, every service answers over TLS, the agent it spawns
 * and the CLI trust the CA, and the pipeline's live output arrives. A second start keeps the CA.
 * Needs `npm run build` first and Docker with drover/debian:bookworm.
 */
import { execFileSync, spawn } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, expect, it } from "vitest";

const ROOT = fileURLToPath(new URL("../../../", import.meta.url));
const MAIN = join(ROOT, "control-plane/cli/dist/main.js");

let dir: string;
let repo: string;
beforeAll(() => {
  if (!existsSync(MAIN)) throw new Error(`${MAIN} is missing: run npm run build first`);
  dir = mkdtempSync(join(tmpdir(), "drover-up-tls-"));
  repo = join(dir, "repo");
  mkdirSync(join(repo, ".circleci"), { recursive: true });
  writeFileSync(
    join(repo, ".circleci/config.yml"),
    "version: 2.1\njobs:\n  hello:\n    docker: [{image: drover/debian:bookworm}]\n" +
      "    steps:\n      - run: echo hello over tls\nworkflows:\n  main:\n    jobs: [hello]\n",
  );
  const git = (...a: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@e", ...a], { cwd: repo });
  git("init", "-q", "-b", "main");
  git("add", ".");
  git("commit", "-q", "-m", "hello");
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function up(args: string[]): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      process.execPath,
      [
        MAIN,
        "up",
        "--tls",
        "--port",
        "0",
        "--output-port",
        "0",
        "--data-dir",
        join(dir, "data"),
        ...args,
      ],
      {
        cwd: dir,
        env: { ...process.env, DROVER_VM: "off", DROVER_LOG_LEVEL: "warn" },
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let out = "";
    let err = "";
    child.stdout.on("data", (c: Buffer) => (out += c.toString()));
    child.stderr.on("data", (c: Buffer) => (err += c.toString()));
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, out, err }));
  });
}

it("serves over TLS with a CA of its own, which its agent and CLI trust", async () => {
  const first = await up(["--run", repo]);
  expect(first.code, `${first.out}\n${first.err}`).toBe(0);
  expect(first.out).toMatch(/Drover is up at https:\/\/127\.0\.0\.1:\d+ \(live output at https:/);
  const ca = join(dir, "data", "tls", "drover-agent-ca.pem");
  expect(first.out).toContain(`TLS: certificates are signed by the CA in ${ca}`);
  expect(first.out).toContain("hello over tls");
  const caPem = readFileSync(ca, "utf8");
  const caCert = new X509Certificate(caPem);
  const server = new X509Certificate(readFileSync(join(dir, "data", "tls", "drover-server.pem")));
  expect(server.checkIssued(caCert)).toBe(true);

  // The CLI's saved settings name the CA, so later `drover` commands here trust the server.
  const cli = JSON.parse(readFileSync(join(dir, "data", "cli.json"), "utf8")) as {
    url: string;
    token: string;
    tlsCa?: string;
  };
  expect(cli.tlsCa).toBe(ca);

  const second = await up(["--run", repo]);
  expect(second.code, `${second.out}\n${second.err}`).toBe(0);
  // Same CA on the second start.
  expect(readFileSync(ca, "utf8")).toBe(caPem);
}, 240_000);
