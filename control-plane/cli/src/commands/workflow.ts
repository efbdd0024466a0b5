/** `drover workflow rerun <workflow-id> [--from-failed] [--ssh] [--job NAME]...` */
import process from "node:process";
import { DroverClient } from "../client.js";
import { loadCliSettings } from "../settings.js";
import { parseCommand, subcommand } from "../args.js";

const USAGE =
  "usage: drover workflow rerun <workflow-id> [--from-failed] [--ssh] [--job NAME]... [--sparse-tree]\n" +
  "--ssh reruns the --job jobs (default: the failed ones) with SSH access.\n";

export async function run(argv: string[]): Promise<number> {
  const [, rest] = subcommand(argv, ["rerun"], { name: "drover workflow", usage: USAGE });
  const { values, positionals, fail } = parseCommand(rest, {
    name: "drover workflow rerun",
    usage: USAGE,
    options: {
      "from-failed": { type: "boolean" },
      ssh: { type: "boolean" },
      job: { type: "string", multiple: true },
      "sparse-tree": { type: "boolean" },
    },
    positionals: ["<workflow-id>"],
  });
  const id = positionals[0]!;
  if (values.ssh && values["from-failed"]) fail("--ssh and --from-failed cannot be combined");
  const s = loadCliSettings(process.env, process.cwd());
  const client = new DroverClient(s.url, s.token, s);
  let jobs: string[] | undefined;
  if (values.job?.length || values.ssh) {
    const all = (await client.workflowJobs(id)).items;
    if (values.job?.length) {
      jobs = [];
      for (const name of values.job) {
        const j = all.find((x) => x.name === name);
        if (!j) {
          process.stderr.write(`drover workflow rerun: no job '${name}' in workflow ${id}\n`);
          return 2;
        }
        jobs.push(j.id);
      }
    } else {
      jobs = all
        .filter((j) => ["failed", "timedout", "infrastructure_fail"].includes(j.status))
        .map((j) => j.id);
      if (jobs.length === 0) {
        process.stderr.write("drover workflow rerun --ssh: no failed job; name one with --job\n");
        return 2;
      }
    }
  }
  const r = await client.rerun(id, {
    ...(values.ssh ? { enable_ssh: true } : {}),
    ...(values["from-failed"] ? { from_failed: true } : {}),
    ...(jobs ? { jobs } : {}),
    ...(values["sparse-tree"] ? { sparse_tree: true } : {}),
  });
  process.stdout.write(`rerun workflow ${r.workflow_id}\n`);
  return 0;
}
