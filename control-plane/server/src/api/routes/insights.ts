import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { invalid } from "../../model/errors.js";
import {
  flakyTests,
  workflowMetrics,
  workflowNames,
  workflowRuns,
  type RunFilter,
  type WorkflowMetrics,
} from "../../model/insights.js";
import type { Project } from "../../model/records.js";
import { slugOf, visibleProject, type SlugParams } from "../access.js";
import { parse, principalOf } from "../server.js";
import type { CoreRouteDeps } from "./deps.js";

const DAY = 86_400_000;
const WINDOWS = {
  "last-24-hours": 1,
  "last-7-days": 7,
  "last-30-days": 30,
  "last-60-days": 60,
  "last-90-days": 90,
} as const;

const branchQuery = {
  branch: z.string().min(1).optional(),
  "all-branches": z.enum(["true", "false"]).optional(),
};

const metricsQuery = z
  .object({
    ...branchQuery,
    "reporting-window": z.enum(Object.keys(WINDOWS) as [keyof typeof WINDOWS]).optional(),
    "page-token": z.string().optional(),
  })
  .strict();

const runsQuery = z
  .object({
    ...branchQuery,
    "start-date": z.iso.datetime({ offset: true }).optional(),
    "end-date": z.iso.datetime({ offset: true }).optional(),
    "page-token": z.string().optional(),
  })
  .strict();

/** `branches` may repeat (`?branches=a&branches=b`). */
const summaryQuery = z
  .object({
    "all-branches": z.enum(["true", "false"]).optional(),
    branches: z.union([z.string().min(1), z.array(z.string().min(1))]).optional(),
  })
  .strict();

type NameParams = SlugParams & { name: string };

/** One branch, every branch, or (CircleCI's default) the project's default branch. */
function branchesOf(
  q: { branch?: string | undefined; "all-branches"?: string | undefined },
  p: Project,
) {
  if (q["all-branches"] === "true") return null;
  return [q.branch ?? p.defaultBranch ?? "main"];
}

/** Each metric of `now` relative to `before` (1 = unchanged; 0 when there was nothing before). */
function trendsOf(now: WorkflowMetrics | undefined, before: WorkflowMetrics | undefined) {
  const ratio = (a: number, b: number) => (b > 0 ? a / b : 0);
  const n = now;
  const b = before;
  return {
    total_runs: ratio(n?.total_runs ?? 0, b?.total_runs ?? 0),
    failed_runs: ratio(n?.failed_runs ?? 0, b?.failed_runs ?? 0),
    success_rate: ratio(n?.success_rate ?? 0, b?.success_rate ?? 0),
    p95_duration_secs: ratio(n?.duration_metrics.p95 ?? 0, b?.duration_metrics.p95 ?? 0),
    median_duration_secs: ratio(n?.duration_metrics.median ?? 0, b?.duration_metrics.median ?? 0),
    total_credits_used: 0,
    mttr: ratio(n?.mttr ?? 0, b?.mttr ?? 0),
    throughput: ratio(n?.throughput ?? 0, b?.throughput ?? 0),
  };
}

const EMPTY: Omit<WorkflowMetrics, "name"> = {
  total_runs: 0,
  successful_runs: 0,
  failed_runs: 0,
  success_rate: 0,
  throughput: 0,
  mttr: 0,
  total_recoveries: 0,
  total_credits_used: 0,
  duration_metrics: { min: 0, mean: 0, median: 0, p95: 0, max: 0, standard_deviation: 0 },
};

/** CircleCI's Insights for a project, computed from the stored workflows and test results. */
export function registerInsightsRoutes(app: FastifyInstance, deps: CoreRouteDeps): void {
  const { db } = deps;
  const base = "/api/v2/insights/:vcs/:org/:repo";

  app.get<{ Params: SlugParams; Querystring: Record<string, string> }>(
    `${base}/workflows`,
    async (req) => {
      const project = await visibleProject(db, principalOf(req), slugOf(req.params));
      const q = parse(metricsQuery, req.query, "query");
      const to = new Date();
      const from = new Date(to.getTime() - WINDOWS[q["reporting-window"] ?? "last-90-days"] * DAY);
      const filter: RunFilter = {
        projectId: project.id,
        from,
        to,
        branches: branchesOf(q, project),
      };
      const page = await workflowMetrics(db, filter, q["page-token"]);
      return {
        items: page.items.map(({ name, ...metrics }) => ({
          name,
          window_start: from.toISOString(),
          window_end: to.toISOString(),
          metrics,
        })),
        next_page_token: page.nextPageToken,
      };
    },
  );

  app.get<{ Params: NameParams; Querystring: Record<string, string> }>(
    `${base}/workflows/:name`,
    async (req) => {
      const project = await visibleProject(db, principalOf(req), slugOf(req.params));
      const q = parse(runsQuery, req.query, "query");
      const to = q["end-date"] ? new Date(q["end-date"]) : new Date();
      const from = q["start-date"] ? new Date(q["start-date"]) : new Date(to.getTime() - 90 * DAY);
      if (from >= to) {
        throw invalid("start-date must be before end-date", [
          { field: "start-date", message: "must be before end-date" },
        ]);
      }
      const page = await workflowRuns(
        db,
        {
          projectId: project.id,
          from,
          to,
          branches: branchesOf(q, project),
          workflowName: req.params.name,
        },
        q["page-token"],
      );
      return { items: page.items, next_page_token: page.nextPageToken };
    },
  );

  app.get<{ Params: NameParams; Querystring: Record<string, string | string[]> }>(
    `${base}/workflows/:name/summary`,
    async (req) => {
      const project = await visibleProject(db, principalOf(req), slugOf(req.params));
      const q = parse(summaryQuery, req.query, "query");
      const branches =
        q["all-branches"] === "true"
          ? null
          : q.branches
            ? [q.branches].flat()
            : [project.defaultBranch ?? "main"];
      const to = new Date();
      const from = new Date(to.getTime() - 90 * DAY);
      const before = new Date(from.getTime() - 90 * DAY);
      const name = req.params.name;
      const now = (
        await workflowMetrics(db, { projectId: project.id, from, to, branches, workflowName: name })
      ).items[0];
      const prev = (
        await workflowMetrics(db, {
          projectId: project.id,
          from: before,
          to: from,
          branches,
          workflowName: name,
        })
      ).items[0];
      const { name: _n, ...metrics } = now ?? { name, ...EMPTY };
      return {
        metrics: { ...metrics, window_start: from.toISOString(), window_end: to.toISOString() },
        trends: trendsOf(now, prev),
        workflow_names: await workflowNames(db, { projectId: project.id, from, to, branches }),
      };
    },
  );

  app.get<{ Params: SlugParams }>(`${base}/flaky-tests`, async (req) => {
    const project = await visibleProject(db, principalOf(req), slugOf(req.params));
    const tests = await flakyTests(db, project.id);
    return { "flaky-tests": tests, "total-flaky-tests": tests.length };
  });
}
