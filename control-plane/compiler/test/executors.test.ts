import { describe, expect, it } from "vitest";
import { errors, plan, where } from "./helpers.js";

const one = (jobBody: string, extra = "") =>
  plan(`version: 2.1
${extra}jobs:
  build:
${jobBody}
    steps: [checkout]
workflows:
  ci: {jobs: [build]}
`).workflows[0]!.jobs[0]!;

describe("executors", () => {
  it("reads docker images with every field, defaults working directory and resource class", () => {
    const j = one(`    docker:
      - image: cimg/ruby:3.2
        user: circleci
        environment: {RAILS_ENV: test, PORT: 3000}
        auth: {username: bot, password: $PASS}
        entrypoint: [/bin/sh, -c]
        command: sleep infinity
      - image: postgres:15
        name: db
        environment:
          - POSTGRES_PASSWORD=pw
      - image: 123.dkr.ecr.us-east-1.amazonaws.com/x:1
        aws_auth: {oidc_role_arn: "arn:aws:iam::123:role/r"}`);
    expect(j.executor).toEqual({
      type: "docker",
      images: [
        {
          image: "cimg/ruby:3.2",
          user: "circleci",
          environment: { RAILS_ENV: "test", PORT: "3000" },
          auth: { username: "bot", password: "$PASS" },
          entrypoint: ["/bin/sh", "-c"],
          command: ["sleep", "infinity"],
        },
        { image: "postgres:15", name: "db", environment: { POSTGRES_PASSWORD: "pw" } },
        {
          image: "123.dkr.ecr.us-east-1.amazonaws.com/x:1",
          environment: {},
          awsAuth: { oidcRoleArn: "arn:aws:iam::123:role/r" },
        },
      ],
    });
    expect(j.workingDirectory).toBe("~/project");
    expect(j.resourceClass).toBe("medium");
    expect(j.parallelism).toBe(1);
  });

  it("reads machine (true or map) and macos executors", () => {
    expect(one(`    machine: true`).executor).toEqual({
      type: "machine",
      image: "default",
      dockerLayerCaching: false,
    });
    expect(
      one(`    machine: {image: ubuntu-2204:2023.07.2, docker_layer_caching: true}`).executor,
    ).toEqual({
      type: "machine",
      image: "ubuntu-2204:2023.07.2",
      dockerLayerCaching: true,
    });
    const mac = one(`    macos: {xcode: 15.0.0}\n    resource_class: macos.m1.medium.gen1`);
    expect(mac.executor).toMatchObject({ type: "machine", platform: "macos", xcode: "15.0.0" });
    expect(mac.resourceClass).toBe("macos.m1.medium.gen1");
  });

  it("merges a named executor's settings under the job's own", () => {
    const j = one(
      `    executor: {name: node, tag: "20.1"}
    environment: {B: job, C: "3"}
    shell: /bin/bash
    parallelism: 4
    working_directory: ~/app`,
      `executors:
  node:
    parameters:
      tag: {type: string, default: lts}
    docker: [{image: "cimg/node:<< parameters.tag >>"}]
    resource_class: large
    working_directory: ~/exec
    environment: {A: exec, B: exec}
    shell: /bin/sh
`,
    );
    expect(j.executor).toMatchObject({ images: [{ image: "cimg/node:20.1" }] });
    expect(j.environment).toEqual({ A: "exec", B: "job", C: "3" });
    expect(j.resourceClass).toBe("large");
    expect(j.workingDirectory).toBe("~/app");
    expect(j.shell).toBe("/bin/bash");
    expect(j.parallelism).toBe(4);
  });

  it("reports an undefined executor, a job without one, and unknown keys", () => {
    const errs = errors(`version: 2.1
jobs:
  a:
    executor: missing
    steps: [checkout]
  b:
    steps: [checkout]
  c:
    docker: [{image: x, colour: red}]
    stepz: []
    steps: [checkout]
workflows:
  ci: {jobs: [a, b, c]}
`);
    expect(where(errs).sort()).toEqual([
      "10:5 DROVER_ERR_CONFIG_UNKNOWN_KEY",
      "4:15 DROVER_ERR_CONFIG_UNDEFINED_EXECUTOR",
      "6:3 DROVER_ERR_CONFIG_NO_EXECUTOR",
      "9:25 DROVER_ERR_CONFIG_UNKNOWN_KEY",
    ]);
  });
});
