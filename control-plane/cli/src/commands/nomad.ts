/**
 * `drover nomad render [path] [--branch B] [--tag T] [--param k=v ...] [--project SLUG]`:
 * prints, one per line, the `{"Job": ...}` bodies the pipeline's tasks would register (like
 * `nomad job plan`, for review), without contacting Nomad.
 * `drover nomad jobs [--json]`: lists Drover's Nomad jobs with allocation, node, status and
 * Nomad UI links (NOMAD_ADDR, NOMAD_TOKEN, NOMAD_NAMESPACE...).
 */
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import process from "node:process";
import { parse as parseYaml } from "yaml";
import {
  NomadClient,
  NomadError,
  buildTaskJob,
  fromEnv,
  jobSpecConfigFromEnv,
  type JobSpecConfig,
} from "@drover/nomad-jobs";
import { DEFAULT_CONFIG_FILE, compile, formatCompileError } from "@drover/config-compiler";
import type { PipelinePlan, PipelineValues } from "@drover/config-compiler";
import { listDroverJobs, toTaskSpecInput, type TaskPlan } from "@drover/control-plane";
import { keyValues, parseCommand, subcommand } from "../args.js";

const USAGE = `usage:
  drover nomad render [path] [--branch B] [--tag T] [--param k=v ...] [--project SLUG]
  drover nomad jobs [--json]

render: the Nomad job bodies a pipeline's tasks would register, one JSON document per line;
  path defaults to ${DEFAULT_CONFIG_FILE}. Placement comes from DROVER_NOMAD_* variables.
jobs: Drover's jobs in Nomad (NOMAD_ADDR, NOMAD_TOKEN, NOMAD_NAMESPACE, NOMAD_CACERT...).
`;

/** Stands where the real single-use token goes; render never mints tokens. */
export const RENDER_TOKEN_PLACEHOLDER = "<task-token>";

export async function run(argv: string[]): Promise<number> {
  const [sub, rest] = subcommand(argv, ["render", "jobs"], { name: "drover nomad", usage: USAGE });
  try {
    return sub === "render" ? render(rest) : await jobs(rest);
  } catch (err) {
    if (err instanceof NomadError || (err instanceof Error && err.name === "ZodError")) {
      process.stderr.write(`drover nomad: ${err.message}\n`);
      return 1;
    }
    throw err;
  }
}

function render(argv: string[]): number {
  const { positionals, values, fail } = parseCommand(argv, {
    name: "drover nomad render",
    usage: USAGE,
    options: {
      branch: { type: "string" },
      tag: { type: "string" },
      param: { type: "string", multiple: true },
      project: { type: "string" },
    },
    positionals: ["[path]"],
  });
  if (values.branch !== undefined && values.tag !== undefined) {
    fail("--branch and --tag cannot be combined");
  }
  const params = keyValues(values.param, "param", fail);
  const path = positionals[0] ?? DEFAULT_CONFIG_FILE;
  let source: string;
  try {
    source = readFileSync(path, "utf8");
  } catch (err) {
    process.stderr.write(`drover nomad render: cannot read ${path}: ${(err as Error).message}\n`);
    return 1;
  }
  const parameters: Record<string, string | number | boolean> = {};
  for (const [key, raw] of params) {
    let parsed: unknown;
    try {
      parsed = parseYaml(raw);
    } catch {
      parsed = raw;
    }
    parameters[key] = typeof parsed === "number" || typeof parsed === "boolean" ? parsed : raw;
  }
  const projectSlug = values.project ?? `local/${basename(process.cwd())}`;
  const pipeline: PipelineValues = {
    id: "00000000-0000-0000-0000-000000000000",
    number: 1,
    projectSlug,
    gitUrl: "",
    revision: "0000000000000000000000000000000000000000",
    triggerSource: "cli",
    parameters,
    ...(values.tag !== undefined ? { tag: values.tag } : { branch: values.branch ?? "main" }),
  };
  const orbsDir = process.env.DROVER_ORBS_DIR;
  const res = compile(source, { file: path, pipeline, ...(orbsDir ? { orbsDir } : {}) });
  if (res.errors.length > 0 || !res.plan) {
    for (const e of res.errors) process.stderr.write(`${formatCompileError(e)}\n`);
    return 1;
  }
  const spec = jobSpecConfigFromEnv(process.env);
  for (const body of renderPlan(res.plan, pipeline, spec, process.env)) {
    process.stdout.write(`${JSON.stringify(body)}\n`);
  }
  return 0;
}

/** The register bodies of every task (build job x parallel node) of a compiled pipeline. */
export function renderPlan(
  plan: PipelinePlan,
  pipeline: PipelineValues,
  spec: JobSpecConfig,
  env: NodeJS.ProcessEnv,
): Array<ReturnType<typeof buildTaskJob>> {
  const controlPlaneUrl = env.DROVER_URL || "http://127.0.0.1:8080";
  const outputUrl = env.DROVER_OUTPUT_URL || "http://127.0.0.1:8585";
  const name = pipeline.projectSlug.split("/").pop() || pipeline.projectSlug;
  const out: Array<ReturnType<typeof buildTaskJob>> = [];
  let number = 0;
  for (const [w, workflow] of plan.workflows.entries()) {
    for (const job of workflow.jobs) {
      if (job.type !== "build") continue;
      number++;
      for (let node = 0; node < job.parallelism; node++) {
        const task: TaskPlan = {
          taskId: `render-${w}-${number}-${node}`,
          taskToken: RENDER_TOKEN_PLACEHOLDER,
          controlPlaneUrl,
          outputUrl,
          project: { slug: pipeline.projectSlug, name },
          pipeline: { id: pipeline.id, number: pipeline.number },
          workflow: { id: `workflow-${w}`, name: workflow.name },
          job: { id: `job-${number}`, name: job.name, number, attempt: 1 },
          node: { index: node, total: job.parallelism },
          resourceClass: job.resourceClass,
          executorType: job.executor?.type === "machine" ? "machine" : "docker",
          sshEnabled: false,
          jobUrl: `${controlPlaneUrl.replace(/\/+$/, "")}/jobs/${number}`,
        };
        out.push(buildTaskJob(toTaskSpecInput(task), spec));
      }
    }
  }
  return out;
}

async function jobs(argv: string[]): Promise<number> {
  const { values } = parseCommand(argv, {
    name: "drover nomad jobs",
    usage: USAGE,
    options: { json: { type: "boolean" } },
  });
  const client = new NomadClient(fromEnv(process.env));
  try {
    const rows = await listDroverJobs(client);
    if (values.json) {
      for (const r of rows) process.stdout.write(`${JSON.stringify(r)}\n`);
      return 0;
    }
    if (rows.length === 0) {
      process.stdout.write("no Drover jobs in Nomad\n");
      return 0;
    }
    const table = [
      ["JOB", "STATUS", "ALLOCATION", "NODE", "UI"],
      ...rows.map((r) => [
        r.jobId,
        r.status,
        r.allocation ? `${r.allocation.id.slice(0, 8)} ${r.allocation.clientStatus}` : "-",
        r.allocation?.node || "-",
        r.links.allocation ?? r.links.job,
      ]),
    ];
    const widths = table[0]!.map((_, i) => Math.max(...table.map((row) => row[i]!.length)));
    for (const row of table) {
      process.stdout.write(
        `${row
          .map((c, i) => c.padEnd(widths[i]!))
          .join("  ")
          .trimEnd()}\n`,
      );
    }
    return 0;
  } finally {
    await client.close();
  }
}
