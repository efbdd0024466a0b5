import { describe, expect, it } from "vitest";
import type { RunStep } from "../src/index.js";
import { errors, plan, run, where } from "./helpers.js";

const base = (jobs: string, workflow: string, extra = ""): string => `version: 2.1
${extra}jobs:
${jobs}
workflows:
  ci:
    jobs:
${workflow}
`;

function commands(p: ReturnType<typeof plan>, job = 0): string[] {
  return p.workflows[0]!.jobs[job]!.steps.filter((s): s is RunStep => s.type === "run").map(
    (s) => s.command,
  );
}

describe("parameters", () => {
  it("binds job parameters of every scalar type, with defaults", () => {
    const p = plan(
      base(
        `  build:
    parameters:
      s: {type: string, default: "x"}
      b: {type: boolean, default: false}
      i: {type: integer, default: 2}
      e: {type: enum, enum: [a, b], default: a}
      v: {type: env_var_name, default: TOKEN}
    docker: [{image: "node:<< parameters.s >>"}]
    parallelism: << parameters.i >>
    steps:
      - run: echo << parameters.s >> << parameters.b >> << parameters.i >> << parameters.e >> $<< parameters.v >>`,
        `      - build
      - build:
          name: custom
          s: "y"
          b: true
          i: 3
          e: b
          v: OTHER_TOKEN`,
      ),
    );
    expect(commands(p, 0)).toEqual(["echo x false 2 a $TOKEN"]);
    expect(commands(p, 1)).toEqual(["echo y true 3 b $OTHER_TOKEN"]);
    expect(p.workflows[0]!.jobs[1]!.parallelism).toBe(3);
    expect(p.workflows[0]!.jobs[1]!.executor).toMatchObject({ images: [{ image: "node:y" }] });
  });

  it("reports a missing required parameter at the invocation", () => {
    const errs = errors(
      base(
        `  build:
    parameters:
      version: {type: string}
    docker: [{image: x}]
    steps: [checkout]`,
        `      - build`,
      ),
    );
    expect(where(errs)).toEqual(["11:9 DROVER_ERR_CONFIG_PARAM_REQUIRED"]);
    expect(errs[0]!.message).toContain("version");
  });

  it("reports type mismatches, bad enums, bad env var names and unknown arguments (all of them)", () => {
    const errs = errors(
      base(
        `  build:
    parameters:
      b: {type: boolean}
      i: {type: integer}
      e: {type: enum, enum: [x, y]}
      v: {type: env_var_name}
    docker: [{image: x}]
    steps: [checkout]`,
        `      - build:
          b: "yes"
          i: 1.5
          e: z
          v: "not a name"
          extra: 1`,
      ),
    );
    expect(where(errs).sort()).toEqual(
      [
        "15:14 DROVER_ERR_CONFIG_PARAM_TYPE",
        "16:14 DROVER_ERR_CONFIG_PARAM_TYPE",
        "17:14 DROVER_ERR_CONFIG_PARAM_TYPE",
        "18:14 DROVER_ERR_CONFIG_PARAM_TYPE",
        "19:11 DROVER_ERR_CONFIG_UNKNOWN_ARGUMENT",
      ].sort(),
    );
  });

  it("type-checks parameter defaults", () => {
    const errs = errors(
      base(
        `  build:
    parameters:
      n: {type: integer, default: many}
    docker: [{image: x}]
    steps: [checkout]`,
        `      - build`,
      ),
    );
    expect(where(errs)).toEqual(["5:35 DROVER_ERR_CONFIG_PARAM_TYPE"]);
  });

  it("reports << parameters.x >> naming nothing, and parameters outside any element", () => {
    const errs = errors(
      base(
        `  build:
    docker: [{image: x}]
    steps:
      - run: echo << parameters.nope >>`,
        `      - build:
          name: << parameters.x >>`,
      ),
    );
    expect(where(errs).sort()).toEqual([
      "11:17 DROVER_ERR_CONFIG_UNDEFINED_PARAMETER",
      "6:14 DROVER_ERR_CONFIG_UNDEFINED_PARAMETER",
    ]);
  });

  it("interpolates pipeline values", () => {
    const p = plan(
      base(
        `  build:
    docker: [{image: x}]
    steps:
      - run: echo << pipeline.git.branch >> << pipeline.git.tag >>/<< pipeline.git.revision >> << pipeline.number >> << pipeline.id >> << pipeline.project.git_url >> << pipeline.trigger_source >> << pipeline.parameters.greeting >>`,
        `      - build`,
        `parameters:\n  greeting: {type: string, default: hello}\n`,
      ),
    );
    expect(commands(p)).toEqual([
      "echo main /0123456789abcdef0123456789abcdef01234567 42 7f3c1a52-0000-4000-8000-000000000001 https://example.test/acme/widgets.git api hello",
    ]);
  });

  it("reports an unknown pipeline value", () => {
    const errs = errors(
      base(
        `  build:\n    docker: [{image: x}]\n    steps:\n      - run: echo << pipeline.nope >>`,
        `      - build`,
      ),
    );
    expect(where(errs)).toEqual(["6:14 DROVER_ERR_CONFIG_UNDEFINED_PARAMETER"]);
  });

  it("applies trigger overrides of pipeline parameters, type-checked", () => {
    const src = base(
      `  build:
    docker: [{image: x}]
    steps:
      - run: echo << pipeline.parameters.n >> << pipeline.parameters.flag >> << pipeline.parameters.env >>`,
      `      - build`,
      `parameters:
  n: {type: integer, default: 1}
  flag: {type: boolean, default: false}
  env: {type: enum, enum: [dev, prod], default: dev}
`,
    );
    expect(commands(plan(src, { parameters: { n: 5, flag: true, env: "prod" } }))).toEqual([
      "echo 5 true prod",
    ]);
    const r = run(src, { parameters: { n: "five", flag: 1, env: "qa", other: "x" } });
    expect(r.errors.map((e) => e.code)).toEqual([
      "DROVER_ERR_CONFIG_PIPELINE_PARAM",
      "DROVER_ERR_CONFIG_PIPELINE_PARAM",
      "DROVER_ERR_CONFIG_PIPELINE_PARAM",
      "DROVER_ERR_CONFIG_PIPELINE_PARAM",
    ]);
    expect(r.errors.map((e) => e.message).join("\n")).toMatch(/'other' is not declared/);
    expect(r.plan).toBeUndefined();
  });

  it("keeps typed values for a whole-scalar reference (booleans in logic)", () => {
    const p = plan(
      base(
        `  build:
    parameters:
      edge: {type: boolean, default: true}
    docker: [{image: x}]
    steps:
      - when:
          condition:
            equal: [<< parameters.edge >>, true]
          steps: [{run: edge}]`,
        `      - build`,
      ),
    );
    expect(commands(p)).toEqual(["edge"]);
  });

  it("turns \\<< into a literal <<", () => {
    const p = plan(
      base(
        `  build:
    docker: [{image: x}]
    steps:
      - run: |
          cat \\<<EOF > f
          x
          EOF
      - run: cat <<END >> log`,
        `      - build`,
      ),
    );
    expect(commands(p)).toEqual(["cat <<EOF > f\nx\nEOF\n", "cat <<END >> log"]);
  });

  it("passes executor- and steps-typed parameters", () => {
    const p = plan(
      base(
        `  build:
    parameters:
      e: {type: executor, default: small}
      extra: {type: steps, default: []}
    executor: << parameters.e >>
    steps:
      - checkout
      - << parameters.extra >>
      - steps: << parameters.extra >>`,
        `      - build:
          e: {name: big, tag: "20"}
          extra:
            - run: one
            - run: two`,
        `executors:
  small:
    docker: [{image: alpine}]
  big:
    parameters:
      tag: {type: string}
    docker: [{image: "node:<< parameters.tag >>"}]
    resource_class: large
`,
      ),
    );
    const j = p.workflows[0]!.jobs[0]!;
    expect(j.executor).toMatchObject({ images: [{ image: "node:20" }] });
    expect(j.resourceClass).toBe("large");
    expect(j.steps.map((s) => s.type)).toEqual(["checkout", "run", "run", "run", "run"]);
  });
});
