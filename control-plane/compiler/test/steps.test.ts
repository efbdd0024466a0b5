import { describe, expect, it } from "vitest";
import { errors, plan, run, where } from "./helpers.js";

const job = (steps: string, extra = ""): string => `version: 2.1
${extra}jobs:
  build:
    docker: [{image: x}]
    steps:
${steps}
workflows:
  ci:
    jobs: [build]
`;

const steps = (src: string, extra = "") => plan(job(src, extra)).workflows[0]!.jobs[0]!.steps;

describe("steps", () => {
  it("normalizes every built-in step with CircleCI's default names", () => {
    expect(
      steps(`      - checkout
      - checkout: {path: ~/src, method: full}
      - save_cache: {key: "v1-{{ checksum \\"yarn.lock\\" }}", paths: [node_modules]}
      - restore_cache: {key: v1-a}
      - restore_cache: {keys: [v1-a, v1-]}
      - store_artifacts: {path: out, destination: reports}
      - store_test_results: {path: junit}
      - persist_to_workspace: {root: ., paths: [dist]}
      - attach_workspace: {at: /tmp/ws}
      - add_ssh_keys: {fingerprints: ["aa:bb"]}
      - setup_remote_docker
      - setup_remote_docker: {version: "20.10.18", docker_layer_caching: true}
      - deploy: {command: ./deploy.sh}`),
    ).toEqual([
      { type: "checkout", name: "Checkout code", when: "on_success" },
      {
        type: "checkout",
        name: "Checkout code",
        when: "on_success",
        path: "~/src",
        method: "full",
      },
      {
        type: "save_cache",
        name: "Saving Cache",
        when: "on_success",
        key: 'v1-{{ checksum "yarn.lock" }}',
        paths: ["node_modules"],
      },
      { type: "restore_cache", name: "Restoring Cache", when: "on_success", keys: ["v1-a"] },
      { type: "restore_cache", name: "Restoring Cache", when: "on_success", keys: ["v1-a", "v1-"] },
      {
        type: "store_artifacts",
        name: "Uploading artifacts",
        when: "on_success",
        path: "out",
        destination: "reports",
      },
      {
        type: "store_test_results",
        name: "Uploading test results",
        when: "on_success",
        path: "junit",
      },
      {
        type: "persist_to_workspace",
        name: "Persisting to Workspace",
        when: "on_success",
        root: ".",
        paths: ["dist"],
      },
      { type: "attach_workspace", name: "Attaching Workspace", when: "on_success", at: "/tmp/ws" },
      { type: "add_ssh_keys", name: "Add SSH Keys", when: "on_success", fingerprints: ["aa:bb"] },
      {
        type: "setup_remote_docker",
        name: "Setup a remote Docker engine",
        when: "on_success",
        dockerLayerCaching: false,
      },
      {
        type: "setup_remote_docker",
        name: "Setup a remote Docker engine",
        when: "on_success",
        version: "20.10.18",
        dockerLayerCaching: true,
      },
      {
        type: "run",
        name: "./deploy.sh",
        command: "./deploy.sh",
        when: "on_success",
        environment: {},
        background: false,
        noOutputTimeoutMs: 600_000,
      },
    ]);
  });

  it("reads run in string and map form, with every option", () => {
    const s = steps(`      - run: make
      - run:
          name: Tests
          command: make test
          shell: /bin/bash -eo pipefail
          environment: {CI: true, N: 3}
          background: true
          working_directory: ~/project/sub
          no_output_timeout: 1h30m
          when: always
      - run: {command: a, no_output_timeout: 20s, when: on_fail}
      - run: {command: b, no_output_timeout: 10m}`);
    expect(s[0]).toMatchObject({
      type: "run",
      name: "make",
      command: "make",
      noOutputTimeoutMs: 600_000,
    });
    expect(s[1]).toEqual({
      type: "run",
      name: "Tests",
      command: "make test",
      shell: "/bin/bash -eo pipefail",
      environment: { CI: "true", N: "3" },
      background: true,
      workingDirectory: "~/project/sub",
      noOutputTimeoutMs: 5_400_000,
      when: "always",
    });
    expect(s[2]).toMatchObject({ noOutputTimeoutMs: 20_000, when: "on_fail" });
    expect(s[3]).toMatchObject({ noOutputTimeoutMs: 600_000 });
  });

  it("reports malformed durations, missing keys, bad `when` and unknown steps with positions", () => {
    const errs = errors(
      job(`      - run: {command: a, no_output_timeout: soon}
      - run: {name: no command}
      - save_cache: {paths: [x]}
      - store_artifacts: {path: a, when: sometimes}
      - frobnicate
      - nope/thing`),
    );
    expect(where(errs)).toEqual([
      "6:46 DROVER_ERR_CONFIG_INVALID_VALUE",
      "7:9 DROVER_ERR_CONFIG_MISSING_KEY",
      "8:9 DROVER_ERR_CONFIG_MISSING_KEY",
      "9:42 DROVER_ERR_CONFIG_INVALID_VALUE",
      "10:9 DROVER_ERR_CONFIG_UNKNOWN_STEP",
      "11:9 DROVER_ERR_CONFIG_UNDEFINED_COMMAND",
    ]);
  });

  it("warns (not fails) on an unknown option of a built-in step, as CircleCI ignores it", () => {
    const r = run(job(`      - run: {command: a, description: why}`));
    expect(r.errors).toEqual([]);
    expect(r.warnings?.map((w) => `${w.line}:${w.col} ${w.code}`)).toEqual([
      "6:27 DROVER_WARN_CONFIG_UNKNOWN_STEP_OPTION",
    ]);
  });

  it("reports a step map with several keys (bad indentation)", () => {
    const errs = errors(
      job(`      - run:
          command: a
        name: b`),
    );
    expect(where(errs)).toEqual(["6:9 DROVER_ERR_CONFIG_INVALID_VALUE"]);
  });

  it("expands commands with parameters, nested commands and orb-less references", () => {
    const s = steps(
      `      - greet: {who: world}
      - twice`,
      `commands:
  greet:
    parameters:
      who: {type: string, default: you}
    steps:
      - run: echo hello << parameters.who >>
  twice:
    steps:
      - greet
      - greet: {who: again}
`,
    );
    expect(s.map((x) => (x.type === "run" ? x.command : x.type))).toEqual([
      "echo hello world",
      "echo hello you",
      "echo hello again",
    ]);
  });

  it("refuses a command that invokes itself", () => {
    const errs = errors(
      job(
        `      - a`,
        `commands:
  a:
    steps: [b]
  b:
    steps: [a]
`,
      ),
    );
    expect(errs.map((e) => e.code)).toEqual(["DROVER_ERR_CONFIG_RECURSION"]);
    expect(errs[0]!.message).toContain("a -> b -> a");
  });

  it("evaluates when/unless steps and prunes the branch not taken", () => {
    const s = steps(
      `      - when:
          condition: << pipeline.parameters.deploy >>
          steps: [{run: deploy}]
      - unless:
          condition: << pipeline.parameters.deploy >>
          steps: [{run: skip-deploy}]
      - when:
          condition:
            equal: [main, << pipeline.git.branch >>]
          steps: [{run: on-main}]`,
      `parameters:
  deploy: {type: boolean, default: false}
`,
    );
    expect(s.map((x) => (x.type === "run" ? x.command : x.type))).toEqual([
      "skip-deploy",
      "on-main",
    ]);
  });

  it("adds pre-steps and post-steps around the job's steps", () => {
    const p = plan(`version: 2.1
jobs:
  build:
    docker: [{image: x}]
    steps: [{run: main}]
workflows:
  ci:
    jobs:
      - build:
          pre-steps: [{run: before}]
          post-steps: [{run: "after << pipeline.git.branch >>"}]
`);
    expect(
      p.workflows[0]!.jobs[0]!.steps.map((x) => (x.type === "run" ? x.command : x.type)),
    ).toEqual(["before", "main", "after main"]);
  });

  it("takes a step whose arguments sit beside its name, with a warning", () => {
    const r = run(
      job(
        `      - greet:
        who: flat`,
        `commands:
  greet:
    parameters: {who: {type: string}}
    steps: [{run: "hi << parameters.who >>"}]
`,
      ),
    );
    expect(r.errors).toEqual([]);
    expect(r.warnings?.[0]?.code).toBe("DROVER_WARN_CONFIG_FLATTENED_STEP");
    expect(r.plan?.workflows[0]?.jobs[0]?.steps[0]).toMatchObject({ command: "hi flat" });
  });

  it("reads CircleCI 2.0's hyphenated step names as the built-ins, warning at each", () => {
    const legacy = `version: 2
jobs:
  build:
    docker: [{image: x}]
    steps:
      - restore-cache: {keys: [v1-a]}
      - save-cache: {key: v1-a, paths: [node_modules]}
      - store-artifacts: {path: out}
      - store-test-results: {path: junit}
      - persist-to-workspace: {root: ., paths: [dist]}
      - attach-workspace: {at: /tmp/ws}
      - add-ssh-keys: {fingerprints: ["aa:bb"]}
      - setup-remote-docker
      - save-cache:
        key: flat
        paths: [x]
workflows:
  version: 2
  ci:
    jobs: [build]
`;
    const modern = legacy.replace(/^( +- [a-z]+)-([a-z]+)(?:-([a-z]+))?/gm, (_, a, b, c) =>
      c ? `${a}_${b}_${c}` : `${a}_${b}`,
    );
    const r = run(legacy);
    expect(r.errors).toEqual([]);
    expect(r.plan?.workflows[0]?.jobs[0]?.steps).toEqual(plan(modern).workflows[0]!.jobs[0]!.steps);
    const warnings = (r.warnings ?? []).filter(
      (w) => w.code === "DROVER_WARN_CONFIG_LEGACY_STEP_NAME",
    );
    expect(warnings.map((w) => `${w.file}:${w.line}:${w.col}`)).toEqual([
      "config.yml:6:9",
      "config.yml:7:9",
      "config.yml:8:9",
      "config.yml:9:9",
      "config.yml:10:9",
      "config.yml:11:9",
      "config.yml:12:9",
      "config.yml:13:9",
      "config.yml:14:9",
    ]);
    expect(warnings[0]?.message).toContain("`restore_cache`");
  });

  it("prefers a command named like a hyphenated built-in", () => {
    const r = run(
      job(
        "      - save-cache",
        `commands:
  save-cache:
    steps: [{run: mine}]
`,
      ),
    );
    expect(r.errors).toEqual([]);
    expect(r.warnings ?? []).toEqual([]);
    expect(r.plan?.workflows[0]?.jobs[0]?.steps[0]).toMatchObject({ type: "run", command: "mine" });
  });
});
