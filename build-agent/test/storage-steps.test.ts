import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { TaskServer } from "./helpers/task-server.js";
import { makeTask, requireDocker, run, runTask } from "./helpers/fixtures.js";

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
