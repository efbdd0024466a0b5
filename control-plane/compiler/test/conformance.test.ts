/**
 * Every config of the shared CircleCI corpus compiles (branch `main`, a fake revision), or fails
 * only with orb-resolution errors naming its registry orbs; spot checks of real job names and
 * edges follow. The corpus lives beside the repository: `<repo>/../shared/conformance/...`.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { compile } from "../src/index.js";
import type { CompileResult, PipelinePlan, PipelineValues } from "../src/index.js";
import { pipeline } from "./helpers.js";

const repo = fileURLToPath(new URL("../../../", import.meta.url));
const corpus = join(repo, "..", "shared", "conformance", "circleci-configs");
const fixtureOrbs = fileURLToPath(new URL("./fixtures/orbs/", import.meta.url));
const files = readdirSync(corpus)
  .filter((f) => f.endsWith(".yml"))
  .sort();

function compileFile(
  name: string,
  over: Partial<PipelineValues> = {},
  orbsDir?: string,
): CompileResult {
  const path = join(corpus, name);
  return compile(readFileSync(path, "utf8"), {
    file: path,
    pipeline: pipeline({
      branch: "main",
      revision: "c0ffee0000000000000000000000000000000000",
      ...over,
    }),
    ...(orbsDir ? { orbsDir } : {}),
  });
}

function ok(name: string, over: Partial<PipelineValues> = {}, orbsDir?: string): PipelinePlan {
  const r = compileFile(name, over, orbsDir);
  expect(r.errors).toEqual([]);
  return r.plan!;
}

/** Registry orb references (`ns/name@version`) anywhere under an `orbs:` map. */
function registryOrbs(doc: unknown, out = new Set<string>()): Set<string> {
  if (Array.isArray(doc)) for (const d of doc) registryOrbs(d, out);
  else if (doc && typeof doc === "object") {
    for (const [k, v] of Object.entries(doc)) {
      if (k === "orbs" && v && typeof v === "object" && !Array.isArray(v)) {
        for (const ref of Object.values(v)) if (typeof ref === "string") out.add(ref);
      }
      registryOrbs(v, out);
    }
  }
  return out;
}

const jobsOf = (p: PipelinePlan, wf: string) => {
  const w = p.workflows.find((x) => x.name === wf);
  if (!w) throw new Error(`no workflow ${wf}: ${p.workflows.map((x) => x.name).join(", ")}`);
  return w.jobs;
};
const edges = (p: PipelinePlan, wf: string, job: string) =>
  jobsOf(p, wf)
    .find((j) => j.name === job)!
    .requires.map((r) => r.job);

describe("conformance corpus", () => {
  it("has the corpus beside the repository", () => {
    expect(files.length).toBeGreaterThanOrEqual(30);
  });

  for (const f of files) {
    it(`compiles ${f}`, () => {
      const r = compileFile(f);
      const doc = parse(readFileSync(join(corpus, f), "utf8"), {
        merge: true,
        uniqueKeys: false,
        maxAliasCount: -1,
      }) as unknown;
      const orbs = [...registryOrbs(doc)].map((ref) =>
        // References may use pipeline parameters (`circleci/docker@<< pipeline.parameters.v >>`).
        ref.replace(/<<\s*pipeline\.parameters\.([\w-]+)\s*>>/g, (_m, k: string) =>
          String(
            (doc as { parameters?: Record<string, { default?: unknown }> }).parameters?.[k]
              ?.default,
          ),
        ),
      );
      if (orbs.length === 0) {
        expect(r.errors).toEqual([]);
        expect(r.plan).toBeDefined();
        // The processed config is itself a valid 2.0 config with the same jobs and edges.
        expect(r.processed).toMatch(/^version: 2\n/);
        const again = compile(r.processed!, { file: "processed.yml", pipeline: pipeline() });
        expect(again.errors).toEqual([]);
        const shape = (p: PipelinePlan | undefined) =>
          p?.workflows.map((w) => [
            w.name,
            w.jobs.map((j) => [j.name, j.type, j.requires, j.steps.length, j.executor]),
          ]);
        expect(shape(again.plan)).toEqual(shape(r.plan));
        return;
      }
      // Without DROVER_ORBS_DIR: only orb-resolution errors, each naming one of the file's orbs,
      // and every registry orb named.
      expect(
        r.errors.map((e) => e.code).every((c) => c === "DROVER_ERR_CONFIG_ORB_UNRESOLVED"),
      ).toBe(true);
      for (const e of r.errors) expect(orbs.some((o) => e.message.includes(`(${o})`))).toBe(true);
      for (const o of orbs) expect(r.errors.some((e) => e.message.includes(`(${o})`))).toBe(true);
    });
  }

  it("mastodon: requires chains through the ruby installs", () => {
    const p = ok("mastodon__mastodon.yml");
    expect(jobsOf(p, "build-and-test").map((j) => j.name)).toEqual([
      "install",
      "install-ruby2.7",
      "install-ruby2.6",
      "install-ruby2.5",
      "build",
      "test-migrations",
      "test-ruby2.7",
      "test-ruby2.6",
      "test-ruby2.5",
      "test-webui",
      "check-i18n",
    ]);
    expect(edges(p, "build-and-test", "install-ruby2.6")).toEqual(["install", "install-ruby2.7"]);
    expect(edges(p, "build-and-test", "test-ruby2.6")).toEqual(["install-ruby2.6", "build"]);
  });

  it("circleci-cli: no-op gate, contexts, executor parameters", () => {
    const p = ok("CircleCI-Public__circleci-cli.yml");
    const gate = jobsOf(p, "ci").find((j) => j.name === "ok-to-deploy")!;
    expect(gate.noOp).toBe(true);
    expect(gate.requires.map((r) => r.job)).toEqual([
      "check",
      "test-linux",
      "test-macos",
      "test-windows",
      "docs",
    ]);
    const deploy = jobsOf(p, "ci").find((j) => j.name === "deploy")!;
    expect(deploy.contexts).toEqual(["devex-release", "macos-codesigning"]);
    expect(deploy.serialGroup).toBe("gh/acme/widgets/deploy");
    expect(edges(p, "ci", "smoke-test-snap")).toEqual(["deploy"]);
    expect(jobsOf(p, "ci").find((j) => j.name === "test-macos")!.executor).toMatchObject({
      platform: "macos",
    });
  });

  it("pyodide: fan-in of deploy-dev", () => {
    const p = ok("pyodide__pyodide.yml");
    expect(edges(p, "build-and-deploy", "deploy-dev")).toEqual([
      "test-python",
      "test-core-firefox",
      "test-packages-firefox",
    ]);
    expect(edges(p, "build-and-deploy", "build-packages")).toEqual([
      "build-packages-no-numpy-dependents",
    ]);
  });

  it("react: matrix names from string values and fan-in", () => {
    const p = ok("facebook__react.yml");
    const names = jobsOf(p, "build_and_test").map((j) => j.name);
    expect(names).toContain("yarn_test--r=stable --env=development");
    expect(names.filter((n) => n.startsWith("yarn_test--"))).toHaveLength(14);
    expect(edges(p, "build_and_test", "process_artifacts_combined")).toEqual([
      "scrape_warning_messages",
      "yarn_build_combined",
    ]);
    expect(
      jobsOf(p, "build_and_test").find((j) => j.name === "yarn_build_combined")!.parallelism,
    ).toBe(40);
  });

  it("hasura: tag pipelines run only tag-filtered jobs whose dependencies also run", () => {
    const onTag = ok("hasura__graphql-engine.yml", { branch: undefined, tag: "v2.0.0" });
    expect(jobsOf(onTag, "build_and_test").map((j) => j.name)).toEqual([
      "test_and_build_server",
      "test_and_build_cli",
      "test_and_build_console",
      "deploy",
    ]);
    const otherTag = ok("hasura__graphql-engine.yml", { branch: undefined, tag: "nightly" });
    expect(jobsOf(otherTag, "build_and_test")).toEqual([]);
    const main = ok("hasura__graphql-engine.yml");
    expect(jobsOf(main, "build_and_test").map((j) => j.name)).toEqual([
      "test_and_build_server",
      "test_and_build_cli",
      "test_and_build_console",
    ]);
  });

  it("electron: 2.0 schedule triggers run only for scheduled pipelines", () => {
    const p = ok("electron__electron.yml");
    expect(p.workflows.map((w) => w.name)).not.toContain("nightly-release-test");
    expect(p.schedules).toContainEqual({
      workflow: "nightly-release-test",
      cron: "0 0 * * *",
      branches: { only: ["master", "2-0-x", "1-8-x", "1-7-x"] },
    });
    const nightly = ok("electron__electron.yml", {
      branch: "master",
      triggerSource: "scheduled_pipeline",
    });
    expect(jobsOf(nightly, "nightly-release-test").map((j) => j.name)).toContain(
      "electron-linux-x64-release-nightly",
    );
  });

  it("typeorm: a 2.0 config with a lone build job and six images", () => {
    const p = ok("typeorm__typeorm.yml");
    const build = jobsOf(p, "workflow")[0]!;
    expect(build.name).toBe("build");
    expect(build.workingDirectory).toBe("~/typeorm");
    expect(
      build.executor?.type === "docker" && build.executor.images.map((i) => i.image),
    ).toHaveLength(6);
  });

  it("oclif: registry orb from a local orbs dir, matrix alias and exclude", () => {
    const p = ok("oclif__core.yml", {}, fixtureOrbs);
    const jobs = jobsOf(p, "test-and-release");
    expect(jobs.map((j) => j.name).slice(0, 4)).toEqual([
      "release-management/test-package-linux-latest",
      "release-management/test-package-linux-lts",
      "release-management/test-package-linux-maintenance",
      "release-management/test-package-windows-lts",
    ]);
    expect(jobs[4]!.name).toBe("release-management/test-package-yarn test:e2e-latest-linux");
    const release = jobs.find((j) => j.name === "release-management/release-package")!;
    expect(release.requires).toHaveLength(8);
    expect(release.steps.at(-1)).toMatchObject({
      type: "run",
      command: expect.stringContaining("gh release create"),
    });
    expect(jobs[0]!.executor).toMatchObject({ images: [{ image: "cimg/node:latest" }] });
    expect(jobs[0]!.environment).toEqual({ TARGET_OS: "linux" });
  });
});
