/**
 * Task driver configs as a Nomad client decodes them (specs from hashicorp/nomad
 * aa026cc99cfb74a77e519a1c1f0c78ba1b452705): the test server fails a task whose config does not fit
 * with Nomad's "Failed Validation" event and error text, and Drover's own jobs fit.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  NomadErrorCode,
  buildTaskJob,
  jobSpecConfigSchema,
  type NomadJob,
  type TaskSpecInput,
} from "@drover/nomad-jobs";
import { batchJob, testServerTarget, type Target } from "./helpers.js";

type Server = NonNullable<Target["server"]>;

/** Each wrong shape, and the diagnostics Nomad's client reports for it (in order). */
const WRONG: Array<{ what: string; driver: string; config: unknown; errors: string[] }> = [
  {
    what: "docker labels as an object (list(map(string)) wanted)",
    driver: "docker",
    config: { image: "busybox", labels: { "io.drover.task-id": "t-1" } },
    errors: [
      'Incorrect attribute value type: Inappropriate value for attribute "labels": list of map of string required.',
    ],
  },
  {
    what: "a misspelled docker field",
    driver: "docker",
    config: { image: "busybox", volume: ["/a:/b"] },
    errors: ['Invalid label: No argument or block type is named "volume". Did you mean "volumes"?'],
  },
  {
    what: "an unknown docker field",
    driver: "docker",
    config: { image: "busybox", socket: true },
    errors: ['Invalid label: No argument or block type is named "socket".'],
  },
  {
    what: "docker without image",
    driver: "docker",
    config: { command: "sh" },
    errors: [
      'Missing required argument: The argument "image" is required, but no definition was found.',
    ],
  },
  {
    what: "a string for a list",
    driver: "docker",
    config: { image: "busybox", volumes: "/a:/b" },
    errors: [
      'Incorrect attribute value type: Inappropriate value for attribute "volumes": list of string required, but have string.',
    ],
  },
  {
    what: "a non-boolean string for a bool",
    driver: "docker",
    config: { image: "busybox", force_pull: "yes" },
    errors: [
      'Incorrect attribute value type: Inappropriate value for attribute "force_pull": a bool is required.',
    ],
  },
  {
    what: "a number for a bool",
    driver: "docker",
    config: { image: "busybox", privileged: 1 },
    errors: [
      'Incorrect attribute value type: Inappropriate value for attribute "privileged": bool required, but have number.',
    ],
  },
  {
    what: "a non-numeric string for a number",
    driver: "docker",
    config: { image: "busybox", shm_size: "big" },
    errors: [
      'Incorrect attribute value type: Inappropriate value for attribute "shm_size": a number is required.',
    ],
  },
  {
    what: "a nested list in a list of strings",
    driver: "docker",
    config: { image: "busybox", ports: [["ssh"]] },
    errors: [
      'Incorrect attribute value type: Inappropriate value for attribute "ports": element 0: string required, but have tuple.',
    ],
  },
  {
    what: "a list inside a label map",
    driver: "docker",
    config: { image: "busybox", labels: [{ a: ["b"] }] },
    errors: [
      'Incorrect attribute value type: Inappropriate value for attribute "labels": element 0: element "a": string required, but have tuple.',
    ],
  },
  {
    what: "a string for a block",
    driver: "docker",
    config: { image: "busybox", auth: "user:pass" },
    errors: [
      'Incorrect JSON value type: Either a JSON object or a JSON array is required, representing the contents of one or more "auth" blocks.',
    ],
  },
  {
    what: "two blocks where one is allowed",
    driver: "docker",
    config: { image: "busybox", auth: [{ username: "a" }, { username: "b" }] },
    errors: [
      'Duplicate auth block: Only one block of type "auth" is allowed. Previous definition was at Config.auth.0.',
    ],
  },
  {
    what: "an object for a list inside a block list",
    driver: "docker",
    config: {
      image: "busybox",
      mount: [{ type: "volume", volume_options: { labels: { a: "b" } } }],
    },
    errors: [
      'Incorrect attribute value type: Inappropriate value for attribute "labels": list of map of string required.',
    ],
  },
  {
    what: "a misspelled field inside a block",
    driver: "docker",
    config: { image: "busybox", mount: { tpye: "bind" } },
    errors: ['Invalid label: No argument or block type is named "tpye". Did you mean "type"?'],
  },
  {
    what: "a list in a block of string attributes",
    driver: "docker",
    config: { image: "busybox", storage_opt: { size: ["1G"] } },
    errors: [
      'Invalid attribute value: Invalid value for attribute of "storage_opt" block: string required, but have tuple.',
    ],
  },
  {
    what: "raw_exec without command, args as a string",
    driver: "raw_exec",
    config: { args: "-c true" },
    errors: [
      'Missing required argument: The argument "command" is required, but no definition was found.',
      'Incorrect attribute value type: Inappropriate value for attribute "args": list of string required, but have string.',
    ],
  },
  {
    what: "exec with a docker field",
    driver: "exec",
    config: { command: "/bin/true", image: "busybox" },
    errors: ['Invalid label: No argument or block type is named "image".'],
  },
];

/** Nomad's ValidationError: go-multierror over "failed to parse config: " and each diagnostic. */
function validationError(errors: string[]): string {
  const all = ["failed to parse config: ", ...errors];
  return `${all.length} errors occurred:\n\t${all.map((e) => `* ${e}`).join("\n\t")}\n\n`;
}

function jobWith(driver: string, config: unknown): NomadJob & { ID: string } {
  const job = batchJob();
  const task = job.TaskGroups![0]!.Tasks[0]!;
  task.Driver = driver;
  task.Config = config as Record<string, unknown>;
  return job;
}

const input = (over: Partial<TaskSpecInput> = {}): TaskSpecInput => ({
  taskId: "7a0c5a52-6f0e-4c36-9d8e-1b2c3d4e5f60",
  taskToken: "dtt_3f9a1c2b7e4d4a0b9c8d7e6f5a4b3c2d",
  controlPlaneUrl: "http://10.0.0.5:8080",
  outputUrl: "http://10.0.0.5:8585",
  project: { slug: "gh/acme/api", name: "api" },
  pipeline: { id: "p-1", number: 42 },
  workflow: { id: "w-1", name: "build" },
  job: { id: "j-1", name: "test", number: 7, attempt: 1 },
  node: { index: 0, total: 1 },
  resourceClass: "medium",
  executorType: "docker",
  sshEnabled: false,
  jobUrl: "http://drover.example/jobs/7",
  ...over,
});

describe("task driver config, as Nomad's client decodes it", () => {
  let t: Target & { server: Server };
  beforeAll(async () => {
    t = await testServerTarget();
  });
  afterAll(async () => {
    await t?.close();
  });

  for (const c of WRONG) {
    it(`fails the task with "Failed Validation": ${c.what}`, async () => {
      const job = jobWith(c.driver, c.config);
      // The server stores a driver config as it comes; the client rejects it.
      const reg = await t.client.jobs.register(job);
      expect(reg.data.EvalID).toBeTruthy();
      const alloc = await t.server.waitForAllocation(job.ID, (a) => a.ClientStatus === "failed");
      const info = await t.client.allocations.info(alloc.ID);
      expect(info.data.ClientDescription).toBe("Failed tasks");
      const state = info.data.TaskStates?.t;
      expect(state).toMatchObject({ State: "dead", Failed: true, StartedAt: null });
      const events = state?.Events ?? [];
      expect(events.map((e) => e.Type)).toEqual([
        "Received",
        "Task Setup",
        "Failed Validation",
        "Not Restarting",
      ]);
      expect(events[2]?.ValidationError).toBe(validationError(c.errors));
      expect(events[3]).toMatchObject({
        FailsTask: true,
        RestartReason: "Policy allows no restarts",
      });
      expect(() => t.server.runAllocation(alloc.ID)).toThrow(/is failed/);
      await t.client.jobs.deregister(job.ID, { purge: true });
    });
  }

  it("accepts the values HCL converts: numbers and bools as strings, numeric strings, nulls", async () => {
    const job = jobWith("docker", {
      image: "busybox",
      args: [1, true, "x"],
      shm_size: "67108864",
      force_pull: "false",
      labels: [{ a: "b" }, { c: 1 }],
      entrypoint: null,
      auth: [{ username: "u" }],
      mount: [{ type: "tmpfs", tmpfs_options: { size: 1024 } }],
      storage_opt: { size: "1G" },
      "//": "a comment",
    });
    await t.client.jobs.register(job);
    const [alloc] = t.server.allocationsOf(job.ID);
    expect(alloc?.ClientStatus).toBe("pending");
    await t.client.jobs.deregister(job.ID, { purge: true });
  });

  it("answers 400 at registration when Config is not an object (the agent's JSON decoding)", async () => {
    const err = await t.client.jobs.register(jobWith("docker", "busybox")).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: NomadErrorCode.BadRequest, status: 400 });
    expect((err as { body: string }).body).toBe(
      "json: cannot unmarshal string into Go struct field Task.Job.TaskGroups.Tasks.Config of type map[string]interface {}",
    );
  });

  it("places and runs Drover's built jobs: docker (with SSH) and raw_exec", async () => {
    const docker = jobSpecConfigSchema.parse({});
    const rawExec = jobSpecConfigSchema.parse({
      driver: "raw_exec",
      rawExec: { command: "/usr/local/bin/drover-agent", args: ["run"] },
    });
    const built = [
      buildTaskJob(input(), docker).Job,
      buildTaskJob(input({ sshEnabled: true, job: { ...input().job, number: 8 } }), docker).Job,
      buildTaskJob(input({ executorType: "machine", job: { ...input().job, number: 9 } }), docker)
        .Job,
      buildTaskJob(input({ job: { ...input().job, number: 10 } }), rawExec).Job,
    ];
    for (const job of built) {
      await t.client.jobs.register(job);
      const alloc = await t.server.waitForAllocation(job.ID);
      expect(alloc.ClientStatus, job.ID).toBe("pending");
      t.server.runAllocation(alloc.ID);
      const info = await t.client.allocations.info(alloc.ID);
      expect(info.data.ClientStatus).toBe("running");
      expect(info.data.TaskStates?.agent?.Events?.map((e) => e.Type)).not.toContain(
        "Failed Validation",
      );
      await t.client.jobs.deregister(job.ID, { purge: true });
    }
    const labels = (built[0]!.TaskGroups![0]!.Tasks[0]!.Config as { labels: unknown }).labels;
    expect(labels).toEqual([{ "io.drover.task-id": "7a0c5a52-6f0e-4c36-9d8e-1b2c3d4e5f60" }]);
  });
});
