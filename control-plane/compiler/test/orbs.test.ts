import { mkdtempSync, mkdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { errors, plan, run, where } from "./helpers.js";

describe("orbs", () => {
  it("expands inline orbs: jobs, commands, executors, orb parameters, nested references", () => {
    const p = plan(`version: 2.1
orbs:
  tools:
    executors:
      default:
        parameters:
          tag: {type: string, default: "3.12"}
        docker: [{image: "cimg/python:<< parameters.tag >>"}]
    commands:
      setup:
        parameters:
          extras: {type: string, default: ""}
        steps:
          - run: pip install .<< parameters.extras >>
    jobs:
      test:
        parameters:
          extras: {type: string, default: "[test]"}
        executor: {name: default, tag: "3.11"}
        steps:
          - checkout
          - setup: {extras: << parameters.extras >>}
jobs:
  lint:
    executor: tools/default
    steps:
      - tools/setup
workflows:
  ci:
    jobs:
      - lint
      - tools/test:
          name: py-test
          requires: [lint]
`);
    const [lint, test] = p.workflows[0]!.jobs;
    expect(lint!.executor).toMatchObject({ images: [{ image: "cimg/python:3.12" }] });
    expect(lint!.steps[0]).toMatchObject({ command: "pip install ." });
    expect(test).toMatchObject({
      name: "py-test",
      definition: "tools/test",
      requires: [{ job: "lint" }],
    });
    expect(test!.executor).toMatchObject({ images: [{ image: "cimg/python:3.11" }] });
    expect(test!.steps[1]).toMatchObject({ command: "pip install .[test]" });
  });

  it("reports undefined orb elements with their positions", () => {
    const errs = errors(`version: 2.1
orbs:
  tools:
    commands:
      a: {steps: [checkout]}
jobs:
  j:
    executor: tools/none
    steps: [tools/b]
workflows:
  ci:
    jobs: [j, tools/nojob]
`);
    expect(where(errs)).toEqual([
      "8:15 DROVER_ERR_CONFIG_UNDEFINED_EXECUTOR",
      "9:13 DROVER_ERR_CONFIG_UNDEFINED_COMMAND",
      "12:15 DROVER_ERR_CONFIG_UNDEFINED_JOB",
    ]);
  });

  it("resolves registry orbs from orbsDir, including orbs they import", () => {
    const dir = mkdtempSync(join(tmpdir(), "drover-orbs-"));
    mkdirSync(join(dir, "circleci"));
    mkdirSync(join(dir, "acme"));
    writeFileSync(
      join(dir, "circleci", "node@5.1.yml"),
      `version: 2.1
orbs:
  helper: acme/helper@0.1
commands:
  install:
    parameters:
      node-version: {type: string, default: "20"}
    steps:
      - run: nvm install << parameters.node-version >>
      - helper/done
`,
    );
    writeFileSync(
      join(dir, "acme", "helper@0.1.yml"),
      `version: 2.1\ncommands:\n  done:\n    steps: [{run: echo done}]\n`,
    );
    const p = plan(
      `version: 2.1
orbs:
  node: circleci/node@5.1
jobs:
  build:
    docker: [{image: x}]
    steps:
      - node/install: {node-version: "22"}
workflows:
  ci: {jobs: [build]}
`,
      {},
      { orbsDir: dir },
    );
    expect(
      p.workflows[0]!.jobs[0]!.steps.map((s) => (s.type === "run" ? s.command : s.type)),
    ).toEqual(["nvm install 22", "echo done"]);
  });

  it("reports errors inside an orb file with that file's path", () => {
    const dir = mkdtempSync(join(tmpdir(), "drover-orbs-"));
    mkdirSync(join(dir, "acme"));
    writeFileSync(
      join(dir, "acme", "bad@1.yml"),
      `version: 2.1\ncommands:\n  x:\n    steps: [{run: {name: no-command}}]\n`,
    );
    const r = run(
      `version: 2.1
orbs: {bad: acme/bad@1}
jobs:
  build:
    docker: [{image: x}]
    steps: [bad/x]
workflows:
  ci: {jobs: [build]}
`,
      {},
      { orbsDir: dir },
    );
    expect(r.errors).toEqual([
      expect.objectContaining({
        code: "DROVER_ERR_CONFIG_MISSING_KEY",
        file: join(dir, "acme", "bad@1.yml"),
        line: 4,
      }),
    ]);
  });

  it("names each unresolvable orb and says where to put it, without cascading errors", () => {
    const r = run(`version: 2.1
orbs:
  node: circleci/node@5.1
  slack: circleci/slack@4.12.5
jobs:
  build:
    executor: node/default
    steps: [node/install, slack/notify]
workflows:
  ci:
    jobs: [build, node/test]
`);
    expect(where(r.errors)).toEqual([
      "3:9 DROVER_ERR_CONFIG_ORB_UNRESOLVED",
      "4:10 DROVER_ERR_CONFIG_ORB_UNRESOLVED",
    ]);
    expect(r.errors[0]!.message).toContain("circleci/node@5.1");
    expect(r.errors[0]!.message).toContain("$DROVER_ORBS_DIR/circleci/node@5.1.yml");
    expect(r.errors[1]!.message).toContain("$DROVER_ORBS_DIR/circleci/slack@4.12.5.yml");
    const withDir = run(
      `version: 2.1\norbs: {node: circleci/node@9}\nworkflows: {ci: {jobs: [node/test]}}\n`,
      {},
      { orbsDir: "/nonexistent" },
    );
    expect(withDir.errors[0]!.message).toContain("/nonexistent/circleci/node@9.yml");
  });

  it("refuses a malformed orb reference", () => {
    expect(
      where(errors(`version: 2.1\norbs: {x: "not an orb"}\njobs: {}\nworkflows: {}\n`)),
    ).toEqual(["2:11 DROVER_ERR_CONFIG_INVALID_ORB"]);
  });
});
