import { randomUUID } from "node:crypto";
import * as tar from "tar-stream";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TaskSpec } from "@drover/task-api";
import { TaskServer } from "./helpers/task-server.js";
import { makeTask, requireDocker, run, runTask } from "./helpers/fixtures.js";

type Step = TaskSpec["steps"][number];

const server = new TaskServer();
beforeAll(async () => {
  await requireDocker();
  await server.start();
});
afterAll(() => server.stop());

describe("built-in storage steps", () => {
  it("round-trips a cache by template key, prefix match, most recent wins, keys immutable", async () => {
    const tag = randomUUID().slice(0, 8);
    const save = (content: string) =>
      makeTask({
        environment: { project: {}, contexts: {}, job: { TAG: tag } },
        steps: [
          run(
            `mkdir -p ~/.cache/dep && echo ${content} > ~/.cache/dep/file && echo lock-1 > deps.lock`,
          ),
          {
            type: "save_cache",
            name: "Saving cache",
            when: "on_success",
            key: `v1-{{ .Environment.TAG }}-{{ .Branch }}-{{ checksum "deps.lock" }}-{{ arch }}`,
            paths: ["~/.cache/dep"],
          },
        ],
      });
    const first = await runTask(server, save("first"));
    expect(first.outcome.result).toBe("success");
    const keys = [...server.caches.keys()].filter((k) => k.includes(tag));
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(new RegExp(`^v1-${tag}-main-[0-9a-f]{64}-arch1-linux-amd64$`));
    // Same key again: immutable, the second content is not stored.
    const second = await runTask(server, save("second"));
    expect(second.sink.text(1)).toContain("cache already exists");

    const restore = makeTask({
      steps: [
        {
          type: "restore_cache",
          name: "Restoring cache",
          when: "on_success",
          keys: [`v0-nothing-`, `v1-${tag}-`],
        },
        run("cat ~/.cache/dep/file"),
      ],
    });
    const r = await runTask(server, restore);
    expect(r.outcome.result).toBe("success");
    expect(r.sink.text(0)).toContain(`Found a cache from key v1-${tag}-main-`);
    expect(r.sink.text(1)).toBe("first\n");
  });

  it("layers workspaces across jobs of a workflow", async () => {
    const workflow = { id: randomUUID(), name: "wf" };
    const a = makeTask({
      workflow,
      steps: [
        run("mkdir -p ws/bin ws/other && echo built > ws/bin/app && echo x > ws/other/x"),
        {
          type: "persist_to_workspace",
          name: "Persisting",
          when: "on_success",
          root: "ws",
          paths: ["bin", "oth*"],
        },
      ],
    });
    expect((await runTask(server, a)).outcome.result).toBe("success");
    const b = makeTask({
      workflow,
      steps: [
        run("mkdir -p ws2 && echo v2 > ws2/app2"),
        {
          type: "persist_to_workspace",
          name: "Persisting",
          when: "on_success",
          root: "ws2",
          paths: ["."],
        },
      ],
    });
    expect((await runTask(server, b)).outcome.result).toBe("success");
    const c = makeTask({
      workflow,
      steps: [
        { type: "attach_workspace", name: "Attaching", when: "on_success", at: "/tmp/workspace" },
        run("cd /tmp/workspace && find . -type f | sort && cat bin/app app2"),
      ],
    });
    const r = await runTask(server, c);
    if (r.outcome.result !== "success") console.log(JSON.stringify(r.sink.records));
    expect(r.outcome.result).toBe("success");
    expect(r.sink.text(1)).toBe("./app2\n./bin/app\n./other/x\nbuilt\nv2\n");
  });

  it("uploads artifacts under their destination", async () => {
    const spec = makeTask({
      steps: [
        run(
          "mkdir -p /tmp/art/sub && echo a > /tmp/art/a.txt && echo b > /tmp/art/sub/b.txt && echo one > one.log",
        ),
        {
          type: "store_artifacts",
          name: "Uploading artifacts",
          when: "on_success",
          path: "/tmp/art",
          destination: "reports",
        },
        {
          type: "store_artifacts",
          name: "Uploading artifacts",
          when: "on_success",
          path: "one.log",
        },
      ],
    });
    const { outcome, state } = await runTask(server, spec);
    expect(outcome.result).toBe("success");
    expect(Object.fromEntries([...state.artifacts].map(([k, v]) => [k, v.toString()]))).toEqual({
      "reports/a.txt": "a\n",
      "reports/sub/b.txt": "b\n",
      "one.log": "one\n",
    });
  });

  it("parses JUnit XML into test cases", async () => {
    const xml = `<?xml version="1.0"?>
<testsuites><testsuite name="math" tests="3">
  <testcase classname="math.add" name="adds" time="0.25" file="test/add.sh"/>
  <testcase classname="math.sub" name="subtracts" time="0.5"><failure message="expected 1 got 2">diff</failure></testcase>
  <testcase classname="math.mul" name="multiplies"><skipped/></testcase>
</testsuite></testsuites>`;
    const spec = makeTask({
      steps: [
        run(
          `mkdir -p results/unit && cat > results/unit/junit.xml <<'XML'\n${xml}\nXML\necho 'not xml' > results/notes.txt`,
        ),
        {
          type: "store_test_results",
          name: "Uploading test results",
          when: "on_success",
          path: "results",
        },
      ],
    });
    const { outcome, state } = await runTask(server, spec);
    expect(outcome.result).toBe("success");
    expect(state.tests).toEqual([
      {
        classname: "math.add",
        name: "adds",
        file: "test/add.sh",
        result: "success",
        runTimeSeconds: 0.25,
        source: "unit/junit.xml",
      },
      {
        classname: "math.sub",
        name: "subtracts",
        result: "failure",
        message: "expected 1 got 2",
        runTimeSeconds: 0.5,
        source: "unit/junit.xml",
      },
      {
        classname: "math.mul",
        name: "multiplies",
        result: "skipped",
        runTimeSeconds: 0,
        source: "unit/junit.xml",
      },
    ]);
  });
});

describe("storage failures", () => {
  it("ends the task as an infrastructure failure when the control plane's storage fails", async () => {
    const spec = makeTask({
      steps: [
        run("mkdir -p out && echo x > out/x"),
        { type: "store_artifacts", name: "Uploading artifacts", when: "on_success", path: "out" },
        run("echo after"),
      ],
    });
    server.broken.add("artifacts");
    try {
      const { outcome, state } = await runTask(server, spec);
      expect(outcome.result).toBe("infrastructure_fail");
      expect(outcome.message).toMatch(/step 'Uploading artifacts': .*500/);
      expect(state.events.filter((e) => e.type === "step_finished").map((e) => e.status)).toEqual([
        "success",
        "success",
        "failed",
        "skipped",
      ]);
    } finally {
      server.broken.delete("artifacts");
    }
  });
});

describe("secrets in uploaded text", () => {
  it("masks secrets in test results", async () => {
    const spec = makeTask({
      environment: { project: { API_KEY: "k3y-abcdef-123456" }, contexts: {}, job: {} },
      secrets: ["k3y-abcdef-123456"],
      steps: [
        run(
          'mkdir -p r && printf \'<testsuite><testcase classname="c" name="n"><failure message="bad key %s"/></testcase></testsuite>\' "$API_KEY" > r/j.xml',
        ),
        {
          type: "store_test_results",
          name: "Uploading test results",
          when: "on_success",
          path: "r",
        },
      ],
    });
    const { state } = await runTask(server, spec);
    expect(state.tests).toHaveLength(1);
    expect(state.tests[0]?.message).toBe("bad key ****");
  });
});

/** A tar of `entries` (files with `body`, or links), as an upstream job's workspace layer. */
async function tarOf(
  entries: Array<{ name: string; body?: string; type?: "symlink" | "link"; linkname?: string }>,
): Promise<Buffer> {
  const pack = tar.pack();
  for (const e of entries) {
    if (e.type) pack.entry({ name: e.name, type: e.type, linkname: e.linkname ?? "" });
    else pack.entry({ name: e.name }, e.body ?? "");
  }
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

const step = {
  artifacts: (path: string, destination?: string): Step => ({
    type: "store_artifacts",
    name: "Uploading artifacts",
    when: "on_success",
    path,
    ...(destination !== undefined ? { destination } : {}),
  }),
  persist: (root: string, paths: string[]): Step => ({
    type: "persist_to_workspace",
    name: "Persisting",
    when: "on_success",
    root,
    paths,
  }),
  attach: (at: string): Step => ({
    type: "attach_workspace",
    name: "Attaching",
    when: "on_success",
    at,
  }),
  save: (key: string, paths: string[]): Step => ({
    type: "save_cache",
    name: "Saving cache",
    when: "on_success",
    key,
    paths,
  }),
};

/**
 * Runs `steps` between a setup step and a last one; expects step 1 (the first of `steps`) to fail
 * with `message`, the rest to be skipped unless `always`, and the job to be `failed`.
 */
async function expectStepInputFailure(
  steps: Step[],
  message: RegExp,
  over: Partial<TaskSpec> = {},
) {
  const spec = makeTask({
    ...over,
    steps: [run("mkdir -p out ws && echo x > out/x && echo y > ws/y"), ...steps, run("echo after")],
  });
  const r = await runTask(server, spec);
  expect(r.outcome).toEqual({ result: "failed" });
  const finished = r.state.events.filter((e) => e.type === "step_finished" && e.step >= 0);
  expect(finished.map((e) => e.type === "step_finished" && e.status)).toEqual([
    "success",
    "failed",
    ...steps.slice(1).map((s) => (s.when === "always" ? "success" : "skipped")),
    "skipped",
  ]);
  expect(finished[1]).toMatchObject({ message: expect.stringMatching(message) });
  expect(r.sink.text(1)).toMatch(message);
  return r;
}

describe("paths that leave their root fail the step, not the task", () => {
  it("store_artifacts: a destination with '..' above the artifact root", async () => {
    const r = await expectStepInputFailure(
      [step.artifacts("out", "../../escape")],
      /store_artifacts: destination '\.\.\/\.\.\/escape' leaves the job's artifacts/,
    );
    expect(r.state.artifacts.size).toBe(0);
  });

  it("store_artifacts: a path above the working directory without a destination", async () => {
    await expectStepInputFailure(
      [step.artifacts("../project/out")],
      /store_artifacts: path '\.\.\/project\/out' .*set a destination/,
    );
  });

  it("store_artifacts: '..' that stays inside is resolved", async () => {
    const spec = makeTask({
      steps: [run("mkdir -p out && echo x > out/x"), step.artifacts("out", "a/../b/./")],
    });
    const r = await runTask(server, spec);
    expect(r.outcome.result).toBe("success");
    expect([...r.state.artifacts.keys()]).toEqual(["b/x"]);
  });

  it("store_artifacts: uploads the files it can and fails naming those it cannot", async () => {
    const spec = makeTask({
      steps: [
        run("mkdir -p out && echo x > out/x && echo w > 'out/we\\ird'"),
        step.artifacts("out"),
      ],
    });
    const r = await runTask(server, spec);
    expect(r.outcome.result).toBe("failed");
    expect([...r.state.artifacts.keys()]).toEqual(["out/x"]);
    expect(r.sink.text(1)).toContain("store_artifacts: 1 file(s) not uploaded: 'out/we\\ird'");
  });

  it("persist_to_workspace: a path outside its root", async () => {
    await expectStepInputFailure(
      [step.persist("ws", ["../out"])],
      /persist_to_workspace: paths\[0\] '\.\.\/out' resolves to \/root\/project\/out, outside the root \/root\/project\/ws/,
    );
  });

  it("attach_workspace: a layer entry outside the target, directly or through a symlink", async () => {
    for (const [entries, name] of [
      [[{ name: "../escape", body: "x" }], "../escape"],
      [
        [
          { name: "s", type: "symlink" as const, linkname: "/etc" },
          { name: "s/evil", body: "x" },
        ],
        "s/evil",
      ],
    ] as const) {
      const workflow = { id: randomUUID(), name: "wf" };
      server.layers.set(workflow.id, [
        { id: randomUUID(), jobId: randomUUID(), body: await tarOf([...entries]) },
      ]);
      const r = await expectStepInputFailure(
        [
          step.attach("/tmp/at"),
          run("ls -d /tmp/escape /etc/evil /tmp/at/* 2>/dev/null || true", { when: "always" }),
        ],
        new RegExp(
          `attach_workspace: layer .* has an entry '${name.replace(/\./g, "\\.")}' outside /tmp/at`,
        ),
        { workflow },
      );
      expect(r.sink.text(2)).toBe("");
    }
  });

  it("save_cache: a key that renders empty or too long", async () => {
    await expectStepInputFailure(
      [step.save("{{ .Branch }}", ["out"])],
      /save_cache: the key '\{\{ \.Branch \}\}' renders to '', /,
      { pipeline: { id: randomUUID(), number: 1, tag: "v1", revision: "0".repeat(40) } },
    );
    await expectStepInputFailure(
      [step.save(`v1-${"k".repeat(600)}`, ["out"])],
      /save_cache: the key 'v1-k+' is 603 characters; at most 512/,
    );
  });
});

describe("hard links", () => {
  it("survive a cache and a workspace round trip", async () => {
    const tag = randomUUID().slice(0, 8);
    const workflow = { id: randomUUID(), name: "wf" };
    const save = makeTask({
      workflow,
      steps: [
        run(
          "mkdir -p ~/.cache/hl/sub ws/bin/sub && echo hi > ~/.cache/hl/sub/a && ln ~/.cache/hl/sub/a ~/.cache/hl/sub/b",
        ),
        run("echo hi > ws/bin/sub/a && ln ws/bin/sub/a ws/bin/sub/b"),
        step.save(`hl-${tag}`, ["~/.cache/hl/sub"]),
        step.persist("ws", ["bin/sub"]),
      ],
    });
    expect((await runTask(server, save)).outcome.result).toBe("success");
    const restore = makeTask({
      workflow,
      steps: [
        { type: "restore_cache", name: "Restoring cache", when: "on_success", keys: [`hl-${tag}`] },
        step.attach("/tmp/ws"),
        run(
          "cat ~/.cache/hl/sub/b /tmp/ws/bin/sub/b && stat -c %h ~/.cache/hl/sub/b /tmp/ws/bin/sub/b",
        ),
      ],
    });
    const r = await runTask(server, restore);
    expect(r.outcome.result).toBe("success");
    expect(r.sink.text(2)).toBe("hi\nhi\n2\n2\n");
  });
});
