import { describe, expect, it } from "vitest";
import { errors, plan, where } from "./helpers.js";

const withCondition = (cond: string, extra = ""): string => `version: 2.1
${extra}jobs:
  build:
    docker: [{image: x}]
    steps:
      - when:
          condition:
${cond}
          steps: [{run: yes}]
      - run: always
workflows:
  ci: {jobs: [build]}
`;

const taken = (cond: string, over = {}, extra = ""): boolean =>
  plan(withCondition(cond, extra), over).workflows[0]!.jobs[0]!.steps.length === 2;

describe("logic statements", () => {
  it("follows CircleCI truthiness for literals", () => {
    for (const v of ["true", "1", "x", "[a]"]) expect(taken(`            ${v}`)).toBe(true);
    for (const v of ["false", "0", '""', "null", "[]"])
      expect(taken(`            ${v}`)).toBe(false);
  });

  it("evaluates and, or, not, equal", () => {
    expect(taken(`            and: [true, {not: false}, {equal: [a, a, a]}]`)).toBe(true);
    expect(taken(`            and: [true, false]`)).toBe(false);
    expect(
      taken(`            or: [false, {equal: [1, 2]}, {equal: [<< pipeline.git.branch >>, main]}]`),
    ).toBe(true);
    expect(taken(`            or: []`)).toBe(false);
    expect(taken(`            not: {equal: [main, << pipeline.git.branch >>]}`)).toBe(false);
  });

  it("matches whole strings only", () => {
    const m = (pattern: string, value: string): boolean =>
      taken(`            matches: {pattern: "${pattern}", value: "${value}"}`);
    expect(m("^v[0-9]+", "v12")).toBe(true);
    expect(m("release", "release/1.0")).toBe(false);
    expect(m("release/.*", "release/1.0")).toBe(true);
    expect(
      taken(`            matches: {pattern: "feat.*", value: << pipeline.git.branch >>}`, {
        branch: "feature/x",
      }),
    ).toBe(true);
  });

  it("reports an invalid regex and an unknown operator at their positions", () => {
    expect(
      where(errors(withCondition(`            matches: {pattern: "([a-z", value: x}`))),
    ).toEqual(["8:32 DROVER_ERR_CONFIG_INVALID_REGEX"]);
    expect(where(errors(withCondition(`            xor: [true, false]`)))).toEqual([
      "8:13 DROVER_ERR_CONFIG_INVALID_VALUE",
    ]);
  });

  it("refuses nesting deeper than 100", () => {
    let deep = "true";
    for (let i = 0; i < 150; i++) deep = `{not: ${deep}}`;
    const errs = errors(withCondition(`            ${deep}`));
    expect(errs.map((e) => e.code)).toEqual(["DROVER_ERR_CONFIG_LOGIC_DEPTH"]);
    let ok = "true";
    for (let i = 0; i < 90; i++) ok = `{not: ${ok}}`;
    expect(taken(`            ${ok}`)).toBe(true);
  });

  it("applies workflow-level when/unless", () => {
    const src = `version: 2.1
parameters:
  nightly: {type: boolean, default: false}
jobs:
  build:
    docker: [{image: x}]
    steps: [checkout]
workflows:
  ci:
    unless: << pipeline.parameters.nightly >>
    jobs: [build]
  nightly:
    when:
      and: [<< pipeline.parameters.nightly >>, {equal: [main, << pipeline.git.branch >>]}]
    jobs: [build]
`;
    expect(plan(src).workflows.map((w) => w.name)).toEqual(["ci"]);
    expect(plan(src, { parameters: { nightly: true } }).workflows.map((w) => w.name)).toEqual([
      "nightly",
    ]);
  });
});
