import { META_TASK_ID, type NomadClient } from "@drover/nomad-jobs";

/** One Drover job in Nomad, for `drover nomad jobs` and `GET /api/v2/admin/nomad/jobs`. */
export interface NomadJobRow {
  jobId: string;
  taskId: string | null;
  namespace: string;
  status: string;
  project: string | null;
  pipelineNumber: number | null;
  jobName: string | null;
  allocation: { id: string; clientStatus: string; node: string } | null;
  links: { job: string; allocation: string | null };
}

/** Lists Drover's jobs (ID prefix) with their newest allocation and Nomad UI links. */
export async function listDroverJobs(
  client: NomadClient,
  opts: { prefix?: string; namespace?: string; uiAddress?: string } = {},
): Promise<NomadJobRow[]> {
  const namespace = opts.namespace ?? client.config.namespace ?? "default";
  const ui = (opts.uiAddress ?? client.config.address).replace(/\/+$/, "");
  const { data } = await client.jobs.list(
    { prefix: opts.prefix ?? "drover-", meta: true },
    { namespace },
  );
  const rows: NomadJobRow[] = [];
  for (const job of data) {
    const allocs = await client.jobs.allocations(job.ID, {}, { namespace });
    const newest = [...allocs.data].sort((a, b) => b.CreateIndex - a.CreateIndex)[0];
    const meta = job.Meta ?? {};
    rows.push({
      jobId: job.ID,
      taskId: meta[META_TASK_ID] ?? null,
      namespace: job.Namespace,
      status: job.Status,
      project: meta.drover_project ?? null,
      pipelineNumber: meta.drover_pipeline_number ? Number(meta.drover_pipeline_number) : null,
      jobName: meta.drover_job_name ?? null,
      allocation: newest
        ? { id: newest.ID, clientStatus: newest.ClientStatus, node: newest.NodeName }
        : null,
      links: {
        job: `${ui}/ui/jobs/${encodeURIComponent(job.ID)}@${encodeURIComponent(job.Namespace)}`,
        allocation: newest ? `${ui}/ui/allocations/${newest.ID}` : null,
      },
    });
  }
  return rows;
}
