import { describe, expect, it } from "vitest";
import {
  NomadError,
  NomadErrorCode,
  buildTaskJob,
  jobIdFor,
  jobProblems,
  jobRegisterRequestSchema,
  jobSpecConfigFromEnv,
  jobSpecConfigSchema,
  type TaskSpecInput,
} from "@drover/nomad-jobs";

const TOKEN = "dtt_3f9a1c2b7e4d4a0b9c8d7e6f5a4b3c2d";

function input(over: Partial<TaskSpecInput> = {}): TaskSpecInput {
  return {
    taskId: "7a0c5a52-6f0e-4c36-9d8e-1b2c3d4e5f60",
    taskToken: TOKEN,
    controlPlaneUrl: "http://10.0.0.5:8080",
    outputUrl: "http://10.0.0.5:8585",
    project: { slug: "gh/acme/api", name: "api" },
    pipeline: { id: "p-1", number: 42 },
    workflow: { id: "w-1", name: "build-and-test" },
    job: { id: "j-1", name: "test", number: 1337, attempt: 1 },
    node: { index: 0, total: 1 },
    resourceClass: "medium",
    executorType: "docker",
    sshEnabled: false,
    jobUrl: "http://drover.example/pipelines/gh/acme/api/42/workflows/w-1/jobs/1337",
    ...over,
  };
}

/** Task inputs across projects, names, classes, executors, parallelism, SSH and drivers. */
function manyInputs(): Array<{ input: TaskSpecInput; driver: "docker" | "raw_exec" }> {
  const out: Array<{ input: TaskSpecInput; driver: "docker" | "raw_exec" }> = [];
  const slugs = [
    "gh/acme/api",
    "bb/Team Space/Repo.Name",
    "gl/a/b/c/deeply-nested_group",
    "circleci/ÄÖÜ/unicode",
  ];
  const names = ["test", "Build & Deploy (prod)", "lint:js", "x".repeat(150)];
  const classes = ["small", "medium", "medium+", "large", "xlarge", "2xlarge", "2xlarge+"];
  let n = 0;
  for (const slug of slugs)
    for (const name of names)
      for (const rc of classes) {
        n++;
        const total = 1 + (n % 4);
        out.push({
          driver: n % 3 === 0 ? "raw_exec" : "docker",
          input: input({
            taskId: `00000000-0000-4000-8000-${String(n).padStart(12, "0")}`,
            taskToken: `dtt_${n.toString(16).padStart(32, "a")}`,
            project: { slug, name: slug.split("/").pop()! },
            pipeline: { id: `p-${n}`, number: n * 7 },
            job: { id: `j-${n}`, name, number: 1000 + n, attempt: 1 + (n % 3) },
            node: { index: n % total, total },
            resourceClass: rc,
            executorType: n % 5 === 0 ? "machine" : "docker",
            sshEnabled: n % 2 === 0,
          }),
        });
      }
  return out;
}

const docker = jobSpecConfigSchema.parse({});
const rawExec = jobSpecConfigSchema.parse({
  driver: "raw_exec",
  rawExec: { command: "/usr/local/bin/drover-agent", args: ["run"] },
});

/** Every string leaf of a value, with its path. */
function strings(v: unknown, path = "Job"): Array<[string, string]> {
  if (typeof v === "string") return [[path, v]];
  if (Array.isArray(v)) return v.flatMap((x, i) => strings(x, `${path}[${i}]`));
  if (v && typeof v === "object")
    return Object.entries(v).flatMap(([k, x]) => strings(x, `${path}.${k}`));
  return [];
}

const SECRET_PATTERNS = [
  /AKIA[0-9A-Z]{16}/,
  /-----BEGIN [A-Z ]*PRIVATE KEY-----/,
  /vault:v\d+:/,
  /(password|passwd|secret|api[_-]?key)\s*[=:]/i,
  /gh[pousr]_[A-Za-z0-9]{30,}/,
  /xox[baprs]-/,
];

describe("job spec builder", () => {
  const cases = manyInputs();

  it(`builds a schema-valid batch job for each of ${cases.length} task inputs`, () => {
    expect(cases.length).toBeGreaterThan(100);
    for (const { input: i, driver } of cases) {
      const body = buildTaskJob(i, driver === "docker" ? docker : rawExec);
      expect(jobRegisterRequestSchema.safeParse(body).success, i.taskId).toBe(true);
      const job = body.Job;
      expect(job.Type).toBe("batch");
      expect(job.ID).toMatch(/^drover-[a-z0-9-]+$/);
      expect(job.ID.length).toBeLessThanOrEqual(100);
      expect(job.ID).toContain(`-${i.pipeline.number}-`);
      expect(
        job.ID.endsWith(`-${i.job.attempt}-${i.node.index}`) ||
          job.ID.includes(`-${i.job.attempt}-${i.node.index}-`),
      ).toBe(true);
      expect(job.Meta?.drover_task_id).toBe(i.taskId);
      expect(job.UI?.Links?.[0]?.URL).toBe(i.jobUrl);
      const group = job.TaskGroups![0]!;
      expect(group.RestartPolicy).toMatchObject({ Attempts: 0, Mode: "fail" });
      expect(group.ReschedulePolicy).toMatchObject({ Attempts: 0, Unlimited: false });
      const task = group.Tasks[0]!;
      expect(task.Driver).toBe(driver);
      expect(Object.keys(task.Env ?? {}).sort()).toEqual([
        "DROVER_OUTPUT_URL",
        "DROVER_TASK_TOKEN",
        "DROVER_URL",
      ]);
      expect(task.KillTimeout).toBe(30_000_000_000);
      const ssh = group.Networks?.[0]?.ReservedPorts?.find((p) => p.Label === "ssh");
      if (i.sshEnabled) {
        expect(ssh?.Value).toBeGreaterThanOrEqual(64535);
        expect(ssh?.Value).toBeLessThanOrEqual(65535);
      } else expect(ssh).toBeUndefined();
      if (driver === "docker") {
        const vols = (task.Config as { volumes?: string[] }).volumes;
        // A machine job's steps run on its VM: its agent gets no Docker socket.
        if (i.executorType === "machine") expect(vols).toBeUndefined();
        else expect(vols).toEqual(["/var/run/docker.sock:/var/run/docker.sock"]);
      }
    }
  });

  it("gives distinct tasks distinct IDs and the same task the same ID", () => {
    const ids = cases.map((c) => jobIdFor(c.input));
    expect(new Set(ids).size).toBe(ids.length);
    expect(jobIdFor(input())).toBe(jobIdFor(input()));
    expect(jobIdFor(input())).toBe("drover-gh-acme-api-42-test-1337-1-0");
  });

  it("hands agents the CA (PEM, public) and the plaintext permission of their control plane", () => {
    const ca = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const config = jobSpecConfigSchema.parse({ agentCa: ca, allowPlaintext: true });
    const env = buildTaskJob(cases[0]!.input, config).Job.TaskGroups![0]!.Tasks[0]!.Env;
    expect(env).toMatchObject({ DROVER_TLS_CA_PEM: ca, DROVER_ALLOW_PLAINTEXT: "true" });
    expect(() => jobSpecConfigSchema.parse({ agentCa: "/path/ca.pem" })).toThrow();
  });

  it("puts no secret-looking value anywhere; the task token appears only in the agent's Env", () => {
    for (const { input: i, driver } of cases) {
      const leaves = strings(buildTaskJob(i, driver === "docker" ? docker : rawExec).Job);
      for (const [path, value] of leaves) {
        for (const re of SECRET_PATTERNS) expect(re.test(value), `${path} = ${value}`).toBe(false);
        if (value.includes(i.taskToken))
          expect(path).toBe("Job.TaskGroups[0].Tasks[0].Env.DROVER_TASK_TOKEN");
      }
    }
  });

  it("maps resource classes to CPU MHz and memory like CircleCI's table", () => {
    const res = (rc: string) =>
      buildTaskJob(input({ resourceClass: rc }), docker).Job.TaskGroups![0]!.Tasks[0]!.Resources;
    expect(res("small")).toEqual({ CPU: 1000, MemoryMB: 2048 });
    expect(res("large")).toEqual({ CPU: 4000, MemoryMB: 8192 });
    expect(res("2xlarge")).toEqual({ CPU: 16000, MemoryMB: 32768 });
    const err = (() => {
      try {
        buildTaskJob(input({ resourceClass: "huge" }), docker);
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(NomadError);
    expect(err).toMatchObject({ code: NomadErrorCode.JobSpec });
    expect((err as Error).message).toContain('unknown resource_class "huge"');
  });

  it("constrains to linux and the configured node class (or none)", () => {
    const job = buildTaskJob(input(), docker).Job;
    expect(job.Constraints).toEqual([
      { LTarget: "${attr.kernel.name}", RTarget: "linux", Operand: "=" },
      { LTarget: "${node.class}", RTarget: "linux-64bit", Operand: "=" },
    ]);
    const any = buildTaskJob(input(), jobSpecConfigSchema.parse({ nodeClass: null })).Job;
    expect(any.Constraints).toHaveLength(1);
    const cfg = jobSpecConfigSchema.parse({
      datacenters: ["eu-1", "eu-2"],
      nodePool: "ci",
      priority: 70,
    });
    expect(buildTaskJob(input(), cfg).Job).toMatchObject({
      Datacenters: ["eu-1", "eu-2"],
      NodePool: "ci",
      Priority: 70,
    });
  });

  it("reads placement settings from DROVER_NOMAD_* variables", () => {
    const c = jobSpecConfigFromEnv({
      DROVER_NOMAD_DATACENTERS: "eu-1, eu-2",
      DROVER_NOMAD_NODE_POOL: "ci",
      DROVER_NOMAD_PRIORITY: "60",
      DROVER_NOMAD_NODE_CLASS: "any",
      DROVER_NOMAD_DRIVER: "raw_exec",
      DROVER_NOMAD_RAW_EXEC_COMMAND: "/usr/bin/drover-agent",
      NOMAD_NAMESPACE: "ci",
    });
    expect(c).toMatchObject({
      datacenters: ["eu-1", "eu-2"],
      nodePool: "ci",
      priority: 60,
      nodeClass: null,
      driver: "raw_exec",
      rawExec: { command: "/usr/bin/drover-agent", args: [] },
      namespace: "ci",
    });
    expect(jobSpecConfigFromEnv({})).toMatchObject({
      datacenters: ["dc1"],
      nodeClass: "linux-64bit",
      driver: "docker",
    });
    expect(() => jobSpecConfigFromEnv({ DROVER_NOMAD_PRIORITY: "200" })).toThrow(/priority/);
  });

  it("rejects bad task input with the field that is wrong", () => {
    expect(() => buildTaskJob(input({ controlPlaneUrl: "not a url" }), docker)).toThrow(
      /controlPlaneUrl/,
    );
    expect(() => buildTaskJob(input({ node: { index: 2, total: 2 } }), docker)).toThrow(
      /node.index 2/,
    );
    expect(() => jobSpecConfigSchema.parse({ driver: "raw_exec" })).toThrow(/rawExec/);
  });
});

describe("Nomad job schema", () => {
  const good = () =>
    structuredClone(buildTaskJob(input({ sshEnabled: true }), docker).Job) as Record<
      string,
      unknown
    >;

  it("fails on misspelled keys at any depth", () => {
    const top = good();
    top.Datacenter = ["dc1"];
    expect(jobProblems(top).join()).toMatch(/Datacenter/);

    const group = good() as { TaskGroups: Array<Record<string, unknown>> };
    group.TaskGroups[0]!.RestartPolicy = { Attempts: 0, Mode: "fail", Intervall: 1 };
    expect(jobProblems(group).join()).toMatch(/Intervall/);

    const task = good() as { TaskGroups: Array<{ Tasks: Array<Record<string, unknown>> }> };
    task.TaskGroups[0]!.Tasks[0]!.Resources = { CPU: 100, MemoryMb: 256 };
    expect(jobProblems(task).join()).toMatch(/MemoryMb/);

    const port = good() as {
      TaskGroups: Array<{ Networks: Array<{ ReservedPorts: Array<Record<string, unknown>> }> }>;
    };
    port.TaskGroups[0]!.Networks[0]!.ReservedPorts[0]!.label = "ssh";
    expect(jobProblems(port).length).toBeGreaterThan(0);

    const cfg = good() as {
      TaskGroups: Array<{ Tasks: Array<{ Config: Record<string, unknown> }> }>;
    };
    cfg.TaskGroups[0]!.Tasks[0]!.Config.volume = [];
    expect(jobProblems(cfg).join()).toMatch(/Config/);
  });

  it("fails on wrong types: durations in seconds strings, priority out of range", () => {
    const j = good() as {
      TaskGroups: Array<{ Tasks: Array<Record<string, unknown>> }>;
      Priority: unknown;
    };
    j.TaskGroups[0]!.Tasks[0]!.KillTimeout = "30s";
    j.Priority = 101;
    const problems = jobProblems(j).join("\n");
    expect(problems).toMatch(/KillTimeout/);
    expect(problems).toMatch(/Priority/);
  });

  it("accepts a job as Nomad returns it (server fields, nulls)", () => {
    const j = {
      ...good(),
      Status: "running",
      Version: 2,
      CreateIndex: 10,
      ModifyIndex: 12,
      JobModifyIndex: 12,
      Stop: false,
      ParentID: "",
      Payload: null,
      Periodic: null,
    };
    expect(jobProblems(j)).toEqual([]);
  });
});
