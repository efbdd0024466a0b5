/**
 * docker-compose.yml as users run it: Debian's docker-compose (1.29, inside drover/ci-base)
 * accepts it with the secrets deploy/make-secrets.sh prints, refuses it without them naming the
 * variable, and every drover/* image it names is one `npm run images` builds.
 */
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { afterAll, describe, expect, it } from "vitest";
import { parse } from "yaml";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../../../", import.meta.url));
const haveImage = await run("docker", ["image", "inspect", "drover/ci-base:latest"]).then(
  () => true,
  () => false,
);
if (!haveImage && process.env.CI === "true") {
  throw new Error("drover/ci-base is missing (npm run images)");
}

describe.skipIf(!haveImage)("docker-compose.yml", () => {
  const dir = mkdtempSync(join(tmpdir(), "drover-compose-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  async function compose(env: string): Promise<{ code: number; out: string }> {
    writeFileSync(join(dir, ".env"), env);
    const args = [
      "run",
      "--rm",
      "-v",
      `${repo}docker-compose.yml:/w/docker-compose.yml:ro`,
      "-v",
      `${dir}/.env:/w/.env:ro`,
      "-w",
      "/w",
      "drover/ci-base:latest",
      "docker-compose",
      "config",
    ];
    return run("docker", args).then(
      (r) => ({ code: 0, out: r.stdout + r.stderr }),
      (e: { code?: number; stdout?: string; stderr?: string }) => ({
        code: e.code ?? 1,
        out: `${e.stdout ?? ""}${e.stderr ?? ""}`,
      }),
    );
  }

  it("is accepted by docker-compose with the generated secrets, two of each Drover service", async () => {
    const { stdout: secrets } = await run("sh", [join(repo, "deploy/make-secrets.sh")]);
    const example = readFileSync(join(repo, "deploy/env.example"), "utf8");
    const r = await compose(`${example}\n${secrets}`);
    expect(r.code, r.out).toBe(0);
    const config = parse(r.out) as {
      services: Record<string, { image: string; environment?: Record<string, string> }>;
    };
    expect(Object.keys(config.services).sort()).toEqual([
      "control-plane-1",
      "control-plane-2",
      "output-1",
      "output-2",
      "postgres",
      "redis",
      "runner",
      "vm-service",
    ]);
    expect(config.services["control-plane-1"]!.environment).toMatchObject({
      DROVER_SCHEDULER: "queue",
      DROVER_OUTPUT_EMBEDDED: "false",
    });
    expect(config.services.postgres!.image).toBe("postgres:16");
    expect(config.services.redis!.image).toBe("redis:7");
    const built = readFileSync(join(repo, "deploy/images/build.sh"), "utf8");
    for (const s of Object.values(config.services)) {
      const m = /^drover\/([a-z-]+):/.exec(s.image);
      if (m) expect(built).toContain(m[1]);
    }
  }, 120_000);

  it("refuses to start without the secrets, naming the missing variable", async () => {
    const r = await compose("DROVER_PUBLIC_URL=http://localhost:8080\n");
    expect(r.code).not.toBe(0);
    expect(r.out).toMatch(
      /DROVER_OUTPUT_TOKEN_SECRET|POSTGRES_PASSWORD|DROVER_MASTER_KEY|set in \.env/,
    );
  }, 120_000);
});
