/** `drover pipeline trigger|list|show` */
import process from "node:process";
import { parseArgs } from "node:util";
import { DroverClient } from "../client.js";
import { followPipeline } from "../follow.js";
import { loadCliSettings } from "../settings.js";

const USAGE =
  "usage: drover pipeline trigger <vcs/org/repo> [--branch B | --tag T] [--param k=v]... [--follow]\n" +
  "       drover pipeline list <vcs/org/repo> [--page-token T]\n" +
  "       drover pipeline show <pipeline-id>\n";

export async function run(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      branch: { type: "string" },
      tag: { type: "string" },
      param: { type: "string", multiple: true },
      follow: { type: "boolean" },
      "page-token": { type: "string" },
    },
  });
  const [sub, arg] = positionals;
  if (!sub || !arg || !["trigger", "list", "show"].includes(sub)) {
    process.stderr.write(USAGE);
    return 2;
  }
  const s = loadCliSettings(process.env, process.cwd());
  const client = new DroverClient(s.url, s.token);
  const out = (l: string) => process.stdout.write(`${l}\n`);
  if (sub === "trigger") {
    const parameters: Record<string, string> = {};
    for (const p of values.param ?? []) {
      const eq = p.indexOf("=");
      if (eq < 1) {
        process.stderr.write(`--param ${p}: expected key=value\n`);
        return 2;
      }
      parameters[p.slice(0, eq)] = p.slice(eq + 1);
    }
    const p = await client.trigger(arg, {
      ...(values.branch ? { branch: values.branch } : {}),
      ...(values.tag ? { tag: values.tag } : {}),
      ...(Object.keys(parameters).length ? { parameters } : {}),
    });
    out(JSON.stringify(p, null, 2));
    if (!values.follow) return p.state === "errored" ? 1 : 0;
    const wfs = await followPipeline(client, p.id, { slug: arg, write: out });
    return wfs.length > 0 && wfs.every((w) => w.status === "success") ? 0 : 1;
  }
  if (sub === "list") {
    const page = await client.listPipelines(arg, values["page-token"]);
    for (const p of page.items) {
      const ref = p.vcs.tag ? `tag ${p.vcs.tag}` : `branch ${p.vcs.branch ?? "?"}`;
      out(
        `#${p.number}  ${p.state.padEnd(8)} ${ref}  ${p.vcs.revision.slice(0, 12)}  ${p.trigger.type}  ${p.id}`,
      );
    }
    if (page.next_page_token) out(`next page: --page-token ${page.next_page_token}`);
    return 0;
  }
  const p = await client.pipeline(arg);
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
