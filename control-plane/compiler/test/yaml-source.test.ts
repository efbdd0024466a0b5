import { afterEach, describe, expect, it } from "vitest";
import { MAX_YAML_DEPTH } from "../src/index.js";
import { useFullYamlReader } from "../src/yaml-source.js";
import { errors, jobNames, plan, run, where } from "./helpers.js";

afterEach(() => useFullYamlReader(false));

describe("YAML source", () => {
  it("resolves anchors, aliases and several << merge keys in one map", () => {
    const p = plan(`version: 2
defaults: &defaults
  docker:
    - image: cimg/node:20.1
  working_directory: ~/app
env: &env
  environment:
    A: "1"
jobs:
  build:
    <<: *defaults
    <<: *env
    environment:
      B: 2
    steps:
      - checkout
  test:
    <<: [*defaults, *env]
    working_directory: ~/override
    steps: [checkout]
workflows:
  version: 2
  ci:
    jobs: [build, test]
`);
    const [build, test] = p.workflows[0]!.jobs;
    expect(build!.workingDirectory).toBe("~/app");
    expect(build!.environment).toEqual({ B: "2" });
    expect(build!.executor).toEqual({
      type: "docker",
      images: [{ image: "cimg/node:20.1", environment: {} }],
    });
    expect(test!.workingDirectory).toBe("~/override");
    expect(test!.environment).toEqual({ A: "1" });
  });

  it("merges a step from an anchor (`- <<: *x`)", () => {
    const p = plan(`version: 2.1
refs:
  run_tests: &run_tests
    run:
      name: Tests
      command: make test
jobs:
  build:
    docker: [{image: alpine}]
    steps:
      - <<: *run_tests
workflows:
  ci:
    jobs: [build]
`);
    expect(p.workflows[0]!.jobs[0]!.steps[0]).toMatchObject({
      type: "run",
      name: "Tests",
      command: "make test",
    });
  });

  it("reports a syntax error with its position", () => {
    const errs = errors(`version: 2.1
jobs:
  build:
    steps: [checkout
`);
    expect(errs[0]!.code).toBe("DROVER_ERR_CONFIG_YAML_SYNTAX");
    expect(errs[0]!.file).toBe("config.yml");
    expect(errs[0]!.line).toBeGreaterThanOrEqual(4);
  });

  it("reports an unknown alias", () => {
    const errs = errors(`version: 2.1
jobs:
  build: *nothing
`);
    expect(errs[0]!.code).toBe("DROVER_ERR_CONFIG_YAML_SYNTAX");
    expect(errs[0]!.line).toBe(3);
  });

  it("refuses a billion-laughs alias bomb quickly", () => {
    let src = `version: 2.1\na0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n`;
    for (let i = 1; i <= 12; i++) {
      const p = `*a${i - 1}`;
      src += `a${i}: &a${i} [${Array(10).fill(p).join(", ")}]\n`;
    }
    src += `jobs:\n  build:\n    docker: [{image: x}]\n    steps: *a12\n`;
    const t0 = performance.now();
    const errs = errors(src);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(errs.map((e) => e.code)).toContain("DROVER_ERR_CONFIG_ALIAS_LIMIT");
  });

  it("refuses configs over 5 MB before parsing", () => {
    const big = `version: 2.1\n# ${"x".repeat(5 * 1024 * 1024)}\n`;
    const errs = errors(big);
    expect(where(errs)).toEqual(["1:1 DROVER_ERR_CONFIG_TOO_LARGE"]);
  });

  it("accepts versions 2, 2.0 and 2.1 and refuses others", () => {
    for (const v of ["2", "2.0", "2.1", '"2.1"']) {
      const p = plan(
        `version: ${v}\njobs:\n  build:\n    docker: [{image: x}]\n    steps: [checkout]\n`,
      );
      expect(jobNames(p)).toEqual(["build"]);
    }
    expect(where(errors(`version: 3\njobs: {}\n`))[0]).toBe("1:10 DROVER_ERR_CONFIG_VERSION");
    expect(where(errors(`jobs: {}\n`))[0]).toBe("1:1 DROVER_ERR_CONFIG_VERSION");
  });

  it("refuses 2.1 features in a 2.0 config", () => {
    const errs = errors(`version: 2
commands:
  hi:
    steps: [checkout]
jobs:
  build:
    docker: [{image: x}]
    steps: [checkout]
`);
    expect(where(errs)).toEqual(["2:1 DROVER_ERR_CONFIG_VERSION"]);
  });

  it("keeps a plain scalar's text where a string is wanted (12.10 stays 12.10)", () => {
    const p = plan(`version: 2.1
jobs:
  build:
    docker: [{image: x}]
    environment:
      PY: 3.10
      ON: true
    steps: [checkout]
workflows:
  ci: {jobs: [build]}
`);
    expect(p.workflows[0]!.jobs[0]!.environment).toEqual({ PY: "3.10", ON: "true" });
  });

  it("reports a near miss of a top-level key but allows anchor holders", () => {
    const errs = errors(`version: 2.1
aliases:
  - &img {image: x}
workflow:
  ci: {jobs: [build]}
jobs:
  build:
    docker: [*img]
    steps: [checkout]
`);
    expect(where(errs)).toEqual(["4:1 DROVER_ERR_CONFIG_UNKNOWN_KEY"]);
    expect(errs[0]!.message).toContain("did you mean 'workflows'");
  });

  it("checks keys of definitions nobody uses", () => {
    const errs = errors(`version: 2.1
commands:
  unused:
    stepz: []
jobs:
  build:
    docker: [{image: x}]
    steps: [checkout]
  old:
    docker: [{image: x}]
    step: [checkout]
workflows:
  ci: {jobs: [build]}
`);
    expect(where(errs)).toEqual([
      "11:5 DROVER_ERR_CONFIG_UNKNOWN_KEY",
      "4:5 DROVER_ERR_CONFIG_UNKNOWN_KEY",
    ]);
  });

  it("refuses a config whose matrices and commands expand past the step budget", () => {
    const errs = errors(`version: 2.1
commands:
  ten: {steps: [{run: a}, {run: a}, {run: a}, {run: a}, {run: a}, {run: a}, {run: a}, {run: a}, {run: a}, {run: a}]}
  hundred: {steps: [ten, ten, ten, ten, ten, ten, ten, ten, ten, ten]}
  thousand: {steps: [hundred, hundred, hundred, hundred, hundred, hundred, hundred, hundred, hundred, hundred]}
jobs:
  build:
    parameters: {a: {type: integer}, b: {type: integer}}
    docker: [{image: x}]
    steps: [thousand]
workflows:
  ci:
    jobs:
      - build:
          matrix:
            parameters:
              a: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]
              b: [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25]
`);
    expect(errs.map((e) => e.code)).toEqual(["DROVER_ERR_CONFIG_TOO_LARGE"]);
  });

  describe("nesting", () => {
    const N = 10_000;
    const deep: Array<[string, string, string]> = [
      ["flow lists", `version: 2.1\njobs: ${"[".repeat(N)}${"]".repeat(N)}\n`, "2:206"],
      ["block lists", `version: 2.1\njobs:\n${"- ".repeat(N)}x\n`, "3:399"],
      ["flow maps", `version: 2.1\njobs: ${"{a: ".repeat(N)}1${"}".repeat(N)}\n`, "2:803"],
      [
        "block maps",
        `version: 2.1\njobs:\n${Array.from({ length: 1000 }, (_, i) => `${" ".repeat(i + 1)}a:`).join("\n")} 1\n`,
        "202:202",
      ],
    ];
    for (const full of [false, true]) {
      for (const [what, text, at] of deep) {
        it(`refuses ${N} levels of ${what} as too deep (${full ? "yaml library" : "fast reader"})`, () => {
          useFullYamlReader(full);
          expect(where(errors(text))).toEqual([`${at} DROVER_ERR_CONFIG_TOO_DEEP`]);
        });
      }
    }

    /** A step option nested so that the whole document is `depth` levels deep. */
    const nested = (depth: number): string => {
      const inner = depth - 6; // root, jobs, build, steps, the step, run
      return `version: 2.1
jobs:
  build:
    docker: [{image: x}]
    steps:
      - run: {command: make, extra: ${"[".repeat(inner)}1${"]".repeat(inner)}}
workflows:
  ci:
    jobs: [build]
`;
    };
    for (const full of [false, true]) {
      it(`accepts exactly ${MAX_YAML_DEPTH} levels, not one more (${full ? "yaml library" : "fast reader"})`, () => {
        useFullYamlReader(full);
        const ok = run(nested(MAX_YAML_DEPTH));
        expect(ok.errors).toEqual([]);
        expect(ok.warnings?.map((w) => w.code)).toEqual(["DROVER_WARN_CONFIG_UNKNOWN_STEP_OPTION"]);
        expect(where(errors(nested(MAX_YAML_DEPTH + 1)))).toEqual([
          // Column of the bracket one level too deep (the first one is at column 37).
          `6:${37 + (MAX_YAML_DEPTH + 1 - 6) - 1} DROVER_ERR_CONFIG_TOO_DEEP`,
        ]);
      });
    }
  });
});
