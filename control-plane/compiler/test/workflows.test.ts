import { describe, expect, it } from "vitest";
import { errors, jobNames, plan, where } from "./helpers.js";

const jobs = (names: string[]): string =>
  `jobs:\n${names.map((n) => `  ${n}:\n    docker: [{image: x}]\n    steps: [checkout]\n`).join("")}`;

describe("workflows", () => {
  it("resolves requires (plain and status form), name overrides, contexts and approval jobs", () => {
    const p = plan(`version: 2.1
${jobs(["build", "test", "deploy", "notify"])}workflows:
  ci:
    jobs:
      - build
      - test:
          name: unit
          requires: [build]
          context: org-global
      - hold:
          type: approval
          requires: [unit]
      - deploy:
          requires: [hold]
          context: [aws, docker-hub]
      - notify:
          requires:
            - deploy: [success, failed]
            - build: failed
`);
    const w = p.workflows[0]!;
    expect(w.jobs.map((j) => [j.name, j.definition, j.type, j.requires, j.contexts])).toEqual([
      ["build", "build", "build", [], []],
      ["unit", "test", "build", [{ job: "build", statuses: ["success"] }], ["org-global"]],
      ["hold", "hold", "approval", [{ job: "unit", statuses: ["success"] }], []],
      [
        "deploy",
        "deploy",
        "build",
        [{ job: "hold", statuses: ["success"] }],
        ["aws", "docker-hub"],
      ],
      [
        "notify",
        "notify",
        "build",
        [
          { job: "deploy", statuses: ["success", "failed"] },
          { job: "build", statuses: ["failed"] },
        ],
        [],
      ],
    ]);
    expect(w.jobs[2]!.executor).toBeUndefined();
    expect(w.jobs[2]!.steps).toEqual([]);
  });

  it("reports requires naming no job, cycles, duplicate names and undefined jobs, all at once", () => {
    const errs = errors(`version: 2.1
${jobs(["a", "b", "c"])}workflows:
  ci:
    jobs:
      - a:
          requires: [c]
      - b:
          requires: [a, ghost]
      - c:
          requires: [b]
      - a
      - missing
`);
    expect(where(errs)).toEqual([
      "22:9 DROVER_ERR_CONFIG_UNDEFINED_JOB",
      "21:9 DROVER_ERR_CONFIG_DUPLICATE_NAME",
      "18:25 DROVER_ERR_CONFIG_UNKNOWN_REQUIRES",
      "17:9 DROVER_ERR_CONFIG_CYCLE",
    ]);
    expect(errs.find((e) => e.code === "DROVER_ERR_CONFIG_CYCLE")!.message).toContain(
      "a -> c -> b -> a",
    );
  });

  it("filters on branches with names and whole-string /regex/", () => {
    const src = `version: 2.1
${jobs(["a", "b", "c", "d"])}workflows:
  ci:
    jobs:
      - a:
          filters: {branches: {only: main}}
      - b:
          filters: {branches: {only: [/release\\/.*/, dev]}}
      - c:
          filters: {branches: {ignore: /feat.*/}}
      - d:
          filters: {branches: {only: /rel/}}
`;
    expect(jobNames(plan(src))).toEqual(["a", "c"]);
    expect(jobNames(plan(src, { branch: "release/1.2" }))).toEqual(["b", "c"]);
    expect(jobNames(plan(src, { branch: "feature/x" }))).toEqual([]);
    expect(jobNames(plan(src, { branch: "rel" }))).toEqual(["c", "d"]);
  });

  it("runs a job for a tag only when its tag filter allows it, and only if its requirements run", () => {
    const src = `version: 2.1
${jobs(["build", "test", "publish", "docs"])}workflows:
  release:
    jobs:
      - build:
          filters: {tags: {only: /^v.*/}}
      - test:
          requires: [build]
          filters: {tags: {only: /.*/}, branches: {ignore: /.*/}}
      - docs:
          requires: [build]
      - publish:
          requires: [docs]
          filters: {tags: {only: /^v.*/}}
`;
    // Tag pipeline: docs has no tag filter, so it and its dependent publish are left out.
    expect(jobNames(plan(src, { branch: undefined, tag: "v1.0.0" }))).toEqual(["build", "test"]);
    expect(jobNames(plan(src, { branch: undefined, tag: "nightly" }))).toEqual([]);
    // Branch pipeline: tag filters are ignored, test's branch filter excludes it.
    expect(jobNames(plan(src))).toEqual(["build", "docs", "publish"]);
  });

  it("reports an invalid filter regex at its position", () => {
    const errs = errors(`version: 2.1
${jobs(["a"])}workflows:
  ci:
    jobs:
      - a:
          filters: {branches: {only: "/(unclosed/"}}
`);
    expect(where(errs)).toEqual(["10:38 DROVER_ERR_CONFIG_INVALID_REGEX"]);
  });

  it("expands matrices: generated names, exclude, alias, << matrix.x >> in names and requires", () => {
    const p = plan(`version: 2.1
jobs:
  build:
    parameters:
      version: {type: string}
      os: {type: string}
    docker: [{image: "cimg/base:<< parameters.version >>"}]
    steps: [{run: "echo << parameters.os >>"}]
  test:
    parameters:
      os: {type: string}
    docker: [{image: x}]
    steps: [checkout]
  ship:
    docker: [{image: x}]
    steps: [checkout]
  notify:
    docker: [{image: x}]
    steps: [checkout]
workflows:
  ci:
    jobs:
      - build:
          matrix:
            parameters:
              version: ["1.2", "2.0"]
              os: [linux, mac]
            exclude:
              - {version: "2.0", os: mac}
      - test:
          name: test-<< matrix.os >>
          matrix:
            alias: tests
            parameters:
              os: [linux, mac]
          requires: [build-1.2-<< matrix.os >>]
      - ship:
          requires: [build, tests]
      - notify:
          requires: [test]
`);
    const w = p.workflows[0]!;
    expect(w.jobs.map((j) => j.name)).toEqual([
      "build-1.2-linux",
      "build-1.2-mac",
      "build-2.0-linux",
      "test-linux",
      "test-mac",
      "ship",
      "notify",
    ]);
    // The base job name of an aliased matrix still means all of its instances.
    expect(w.jobs[6]!.requires.map((r) => r.job)).toEqual(["test-linux", "test-mac"]);
    expect(w.jobs[2]!.executor).toMatchObject({ images: [{ image: "cimg/base:2.0" }] });
    expect(w.jobs[1]!.steps[0]).toMatchObject({ command: "echo mac" });
    expect(w.jobs[4]!.requires.map((r) => r.job)).toEqual(["build-1.2-mac"]);
    expect(w.jobs[5]!.requires.map((r) => r.job)).toEqual([
      "build-1.2-linux",
      "build-1.2-mac",
      "build-2.0-linux",
      "test-linux",
      "test-mac",
    ]);
  });

  it("reports << matrix.x >> outside a matrix and exclude of an unknown parameter", () => {
    const errs = errors(`version: 2.1
jobs:
  a:
    parameters: {v: {type: string}}
    docker: [{image: x}]
    steps: [checkout]
workflows:
  ci:
    jobs:
      - a:
          name: a-<< matrix.v >>
          v: "1"
      - a:
          matrix:
            parameters: {v: ["1"]}
            exclude: [{w: "2"}]
`);
    expect(where(errs)).toEqual([
      "11:17 DROVER_ERR_CONFIG_UNDEFINED_PARAMETER",
      "16:24 DROVER_ERR_CONFIG_INVALID_VALUE",
    ]);
  });

  it("reads 2.0 workflows with version, schedule triggers, and a lone build job", () => {
    const src = `version: 2
${jobs(["build", "nightly"])}workflows:
  version: 2
  commit:
    jobs: [build]
  nightly:
    triggers:
      - schedule:
          cron: "0 3 * * *"
          filters: {branches: {only: [main]}}
    jobs: [nightly]
`;
    const p = plan(src);
    expect(p.workflows.map((w) => w.name)).toEqual(["commit"]);
    expect(p.schedules).toEqual([
      { workflow: "nightly", cron: "0 3 * * *", branches: { only: ["main"] } },
    ]);
    const s = plan(src, { triggerSource: "scheduled_pipeline" });
    expect(s.workflows.map((w) => [w.name, w.schedule?.cron])).toEqual([
      ["commit", undefined],
      ["nightly", "0 3 * * *"],
    ]);
    expect(
      plan(src, { triggerSource: "scheduled_pipeline", branch: "dev" }).workflows.map(
        (w) => w.name,
      ),
    ).toEqual(["commit"]);

    const lone = plan(`version: 2
jobs:
  build:
    docker: [{image: x}]
    parallelism: 3
    steps: [checkout]
`);
    expect(lone.workflows).toMatchObject([
      { name: "workflow", jobs: [{ name: "build", parallelism: 3 }] },
    ]);
    expect(
      where(
        errors(`version: 2\njobs:\n  test:\n    docker: [{image: x}]\n    steps: [checkout]\n`),
      ),
    ).toEqual(["2:1 DROVER_ERR_CONFIG_NO_WORKFLOWS"]);
  });

  it("reports a duplicate YAML key at the second occurrence", () => {
    const errs = errors(`version: 2.1
${jobs(["a"])}workflows:
  ci: {jobs: [a]}
  ci: {jobs: [a]}
`);
    expect(where(errs)).toEqual(["8:3 DROVER_ERR_CONFIG_YAML_SYNTAX"]);
  });

  it("reports an unknown workflow key and unknown job options", () => {
    const errs = errors(`version: 2.1
${jobs(["a"])}workflows:
  ci:
    jbos: []
    jobs:
      - a:
          requirez: [x]
`);
    expect(where(errs)).toEqual([
      "8:5 DROVER_ERR_CONFIG_UNKNOWN_KEY",
      "11:11 DROVER_ERR_CONFIG_UNKNOWN_ARGUMENT",
    ]);
  });

  it("records serial-group and no-op jobs", () => {
    const p = plan(`version: 2.1
jobs:
  gate:
    type: no-op
  deploy:
    docker: [{image: x}]
    steps: [checkout]
workflows:
  ci:
    jobs:
      - gate
      - deploy:
          requires: [gate]
          serial-group: << pipeline.project.slug >>/deploy
`);
    expect(p.workflows[0]!.jobs[0]).toMatchObject({
      name: "gate",
      type: "build",
      noOp: true,
      steps: [],
    });
    expect(p.workflows[0]!.jobs[0]!.executor).toBeUndefined();
    expect(p.workflows[0]!.jobs[1]!.serialGroup).toBe("gh/acme/widgets/deploy");
  });

  it("applies a 2.0 job-level branches filter to the implicit workflow", () => {
    const src = `version: 2
jobs:
  build:
    branches: {only: [main, /release-.*/]}
    docker: [{image: x}]
    steps: [checkout]
`;
    expect(jobNames(plan(src))).toEqual(["build"]);
    expect(jobNames(plan(src, { branch: "release-2" }))).toEqual(["build"]);
    expect(jobNames(plan(src, { branch: "dev" }))).toEqual([]);
  });

  it("marks a dynamic-config setup pipeline", () => {
    const p = plan(`version: 2.1
setup: true
jobs:
  generate:
    docker: [{image: x}]
    steps: [checkout]
workflows:
  setup: {jobs: [generate]}
`);
    expect(p.setup).toBe(true);
    expect(jobNames(p)).toEqual(["generate"]);
  });
});
