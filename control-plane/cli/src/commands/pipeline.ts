/** `drover pipeline trigger|list|show` */
import process from "node:process";
import { DroverClient } from "../client.js";
import { followPipeline } from "../follow.js";
import { loadCliSettings } from "../settings.js";
import { keyValues, parseCommand, subcommand } from "../args.js";

const USAGE =
  "usage: drover pipeline trigger <vcs/org/repo> [--branch B | --tag T] [--param k=v]... [--follow]\n" +
  "       drover pipeline list <vcs/org/repo> [--page-token T]\n" +
  "       drover pipeline show <pipeline-id>\n";

export async function run(argv: string[]): Promise<number> {
  const [sub, rest] = subcommand(argv, ["trigger", "list", "show"], {
    name: "drover pipeline",
    usage: USAGE,
  });
  const out = (l: string) => process.stdout.write(`${l}\n`);
  if (sub === "trigger") {
    const { values, positionals, fail } = parseCommand(rest, {
      name: "drover pipeline trigger",
      usage: USAGE,
      options: {
        branch: { type: "string" },
        tag: { type: "string" },
        param: { type: "string", multiple: true },
        follow: { type: "boolean" },
      },
      positionals: ["<vcs/org/repo>"],
    });
    const slug = positionals[0]!;
    if (values.branch !== undefined && values.tag !== undefined) {
      fail("--branch and --tag cannot be combined");
    }
    const parameters = Object.fromEntries(keyValues(values.param, "param", fail));
    const client = connect();
    const p = await client.trigger(slug, {
      ...(values.branch ? { branch: values.branch } : {}),
      ...(values.tag ? { tag: values.tag } : {}),
      ...(Object.keys(parameters).length ? { parameters } : {}),
    });
    out(JSON.stringify(p, null, 2));
    if (!values.follow) return p.state === "errored" ? 1 : 0;
    const wfs = await followPipeline(client, p.id, { slug, write: out });
    return wfs.length > 0 && wfs.every((w) => w.status === "success") ? 0 : 1;
  }
  if (sub === "list") {
    const { values, positionals } = parseCommand(rest, {
      name: "drover pipeline list",
      usage: USAGE,
      options: { "page-token": { type: "string" } },
      positionals: ["<vcs/org/repo>"],
    });
    const page = await connect().listPipelines(positionals[0]!, values["page-token"]);
    for (const p of page.items) {
      const ref = p.vcs.tag ? `tag ${p.vcs.tag}` : `branch ${p.vcs.branch ?? "?"}`;
      out(
        `#${p.number}  ${p.state.padEnd(8)} ${ref}  ${p.vcs.revision.slice(0, 12)}  ${p.trigger.type}  ${p.id}`,
      );
    }
    if (page.next_page_token) out(`next page: --page-token ${page.next_page_token}`);
    return 0;
  }
  const { positionals } = parseCommand(rest, {
    name: "drover pipeline show",
    usage: USAGE,
    options: {},
    positionals: ["<pipeline-id>"],
  });
  const client = connect();
  const p = await client.pipeline(positionals[0]!);
  out(`pipeline ${p.project_slug} #${p.number} ${p.state} (${p.id})`);
  for (const e of p.errors) out(`  error (${e.type}): ${e.message}`);
  for (const wf of (await client.pipelineWorkflows(p.id)).items) {
    out(`  workflow ${wf.name} ${wf.status} (${wf.id})`);
    for (const j of (await client.workflowJobs(wf.id)).items) {
      out(`    ${j.name}${j.job_number !== undefined ? ` #${j.job_number}` : ""} ${j.status}`);
    }
  }
  return 0;
}

function connect(): DroverClient {
  const s = loadCliSettings(process.env, process.cwd());
  return new DroverClient(s.url, s.token, s);
}
