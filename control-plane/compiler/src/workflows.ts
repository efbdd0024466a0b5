/**
 * Workflows: job invocations (matrix expanded), requires resolved into a checked DAG, filters
 * applied for the pipeline's branch or tag.
 *
 * Filter semantics (CircleCI's): on a branch pipeline a job runs when its `branches` filter allows
 * the branch (no filter: every branch); `tags` filters are ignored. On a tag pipeline a job runs
 * only when it has a `tags` filter that allows the tag (`only` matches and `ignore` does not);
 * `branches` filters are ignored. Dependencies: CircleCI requires every upstream job of a
 * tag-filtered job to carry tag filters too, otherwise the downstream job never starts. Drover
 * makes that explicit at compile time: a job runs only when its own filter allows it AND every job
 * it requires runs (transitively); a job whose requirement is filtered out is left out of the plan
 * (on branch pipelines as well), so the plan never holds a job that could not start.
 */
import { ConfigErrorCode } from "./errors.js";
import type { Diagnostics } from "./errors.js";
import { allows, filterAllows, readFilters, readMatcher } from "./filters.js";
import type { Filters, Matcher } from "./filters.js";
import { expandJob } from "./jobs.js";
import type { JobBody } from "./jobs.js";
import { evalLogicSafe } from "./logic.js";
import { matrixAlias, readMatrix } from "./matrix.js";
import type { Combo } from "./matrix.js";
import { isUnresolved, lookup } from "./orbs.js";
import type { Namespace } from "./orbs.js";
import { subst } from "./params.js";
import type { JobPlan, JobRequirement, PipelineValues, WorkflowPlan } from "./plan.js";
import { asString, asStringList, checkKeys } from "./shape.js";
import type { ExpandContext } from "./steps.js";
import { mkMap, scalarText } from "./yaml-source.js";
import type { PMap, PNode, Pos } from "./yaml-source.js";

type Status = JobRequirement["statuses"][number];
const STATUSES = new Set<Status>(["success", "failed", "canceled", "not_run", "unauthorized"]);

const WORKFLOW_KEYS = new Set(["jobs", "triggers", "when", "unless", "max_auto_reruns"]);
const RESERVED = new Set([
  "requires",
  "name",
  "context",
  "filters",
  "matrix",
  "type",
  "pre-steps",
  "post-steps",
  "serial-group",
  "override-with",
]);

interface RawRequire {
  name: string;
  statuses: Status[];
  at: Pos;
}

/** One concrete job of a workflow (a matrix produces several). */
export interface Instance {
  name: string;
  definition: string;
  at: Pos;
  type: JobPlan["type"];
  rawRequires: RawRequire[];
  requires: Array<{ target: Instance; statuses: Status[] }>;
  contexts: string[];
  filters?: Filters;
  serialGroup?: string;
  /** Matrix instances: the names that require all instances (the alias and the job name). */
  groups?: string[];
  /** Undefined when the definition is missing or lives in an unresolved orb. */
  body?: JobBody;
}

export interface WorkflowResult {
  name: string;
  /** False when `when`/`unless`, a schedule or the pipeline values exclude the whole workflow. */
  runs: boolean;
  schedule?: NonNullable<WorkflowPlan["schedule"]>;
  scheduleFilters?: Matcher;
  instances: Instance[];
  /** Set when the DAG is valid (no unknown requires, no cycles, no duplicates). */
  valid: boolean;
}

export interface WorkflowContext extends ExpandContext {
  root: Namespace;
  values: PipelineValues;
}

/** Compiles one workflow's definition (no filtering yet: see `planWorkflow`). */
export function compileWorkflow(
  name: string,
  at: Pos,
  node: PNode,
  ctx: WorkflowContext,
): WorkflowResult {
  const { diag } = ctx;
  const res: WorkflowResult = { name, runs: true, instances: [], valid: true };
  if (node.kind !== "map") {
    diag.add(ConfigErrorCode.INVALID_VALUE, `workflow '${name}' must be a map with \`jobs\``, node);
    res.valid = false;
    return res;
  }
  checkKeys(node, WORKFLOW_KEYS, `workflow '${name}'`, diag);
  const scope = { pipeline: ctx.pipeline };
  for (const key of ["when", "unless"] as const) {
    const c = node.index.get(key)?.value;
    if (!c) continue;
    const cond = ctx.interpolate ? subst(c, scope, diag) : c;
    if (evalLogicSafe(cond, diag) !== (key === "when")) res.runs = false;
  }
  const triggers = node.index.get("triggers")?.value;
  if (triggers) readTriggers(triggers, res, diag);

  const jobs = node.index.get("jobs")?.value;
  if (!jobs || jobs.kind !== "seq") {
    diag.add(ConfigErrorCode.MISSING_KEY, `workflow '${name}' needs a \`jobs\` list`, jobs ?? at);
    res.valid = false;
    return res;
  }
  for (const item of jobs.items) invocation(item, ctx, res);
  res.valid = resolveRequires(res, diag) && res.valid;
  return res;
}

function readTriggers(n: PNode, res: WorkflowResult, diag: Diagnostics): void {
  if (n.kind !== "seq") {
    diag.add(ConfigErrorCode.INVALID_VALUE, "`triggers` must be a list", n);
    return;
  }
  for (const t of n.items) {
    const s = t.kind === "map" ? t.index.get("schedule")?.value : undefined;
    if (t.kind !== "map" || !s || s.kind !== "map") {
      diag.add(ConfigErrorCode.INVALID_VALUE, "a trigger must be `- schedule: {cron, filters}`", t);
      continue;
    }
    checkKeys(t, new Set(["schedule"]), "trigger", diag);
    checkKeys(s, new Set(["cron", "filters"]), "schedule", diag);
    const cron = asString(s.index.get("cron")?.value, "schedule.cron", diag);
    if (!cron) {
      diag.add(ConfigErrorCode.MISSING_KEY, "a schedule needs `cron`", s);
      continue;
    }
    if (cron.trim().split(/\s+/).length !== 5 || !/^[\d*/,\-\sA-Za-z?]+$/.test(cron)) {
      diag.add(
        ConfigErrorCode.INVALID_VALUE,
        `'${cron}' is not a 5-field cron expression`,
        s.index.get("cron")!.value,
      );
    }
    const f = s.index.get("filters")?.value;
    const branches: { only?: string[]; ignore?: string[] } = {};
    let matcher: Matcher | undefined;
    if (f && f.kind === "map") {
      checkKeys(f, new Set(["branches"]), "schedule filters", diag);
      const b = f.index.get("branches")?.value;
      if (b && b.kind === "map") {
        matcher = readMatcher(b, "schedule branches", diag);
        const only = b.index.get("only")?.value;
        const ignore = b.index.get("ignore")?.value;
        if (only) branches.only = asStringList(only, "only", diag);
        if (ignore) branches.ignore = asStringList(ignore, "ignore", diag);
      }
    }
    // CircleCI allows one schedule per workflow in practice; the first one wins.
    if (!res.schedule) {
      res.schedule = { cron: cron.trim(), branches };
      if (matcher) res.scheduleFilters = matcher;
    }
  }
}

function readRequires(n: PNode | undefined, diag: Diagnostics): RawRequire[] {
  if (!n || (n.kind === "scalar" && n.value === null)) return [];
  const items = n.kind === "seq" ? n.items : [n];
  const out: RawRequire[] = [];
  const add = (item: PNode): void => {
    if (item.kind === "scalar") {
      if (item.value !== null)
        out.push({ name: scalarText(item), statuses: ["success"], at: item });
      return;
    }
    if (item.kind === "seq") {
      for (const i of item.items) add(i);
      return;
    }
    for (const e of item.entries) {
      const sts = asStringList(e.value, `requires.${e.key}`, diag);
      const statuses: Status[] = [];
      for (const s of sts) {
        if (STATUSES.has(s as Status)) statuses.push(s as Status);
        else {
          diag.add(
            ConfigErrorCode.INVALID_VALUE,
            `'${s}' is not a job status (success, failed, canceled, not_run, unauthorized)`,
            e.value,
          );
        }
      }
      out.push({ name: e.key, statuses: statuses.length ? statuses : ["success"], at: e.keyPos });
    }
  };
  for (const i of items) add(i);
  return out;
}

function invocation(item: PNode, ctx: WorkflowContext, res: WorkflowResult): void {
  const { diag } = ctx;
  let ref: string;
  let refAt: Pos = item;
  let args: PMap | undefined;
  if (item.kind === "scalar" && item.value !== null) ref = scalarText(item);
  else if (item.kind === "map" && item.entries.length === 1) {
    const e = item.entries[0]!;
    ref = e.key;
    refAt = e.keyPos;
    if (e.value.kind === "map") args = e.value;
    else if (!(e.value.kind === "scalar" && e.value.value === null)) {
      diag.add(ConfigErrorCode.INVALID_VALUE, `the options of job '${ref}' must be a map`, e.value);
    }
  } else {
    diag.add(
      ConfigErrorCode.INVALID_VALUE,
      "a workflow job is a name or a map with one key (the job name)",
      item,
    );
    return;
  }

  const matrixNode = args?.index.get("matrix")?.value;
  const combos = matrixNode ? readMatrix(matrixNode, ctx) : [undefined];
  const alias = matrixNode ? matrixAlias(matrixNode, ref, ctx) : undefined;
  for (const combo of combos) {
    let a = args;
    if (a && ctx.interpolate) {
      const withoutMatrix = mkMap(
        a.entries.filter((e) => e.key !== "matrix"),
        a,
      );
      a = subst(
        withoutMatrix,
        { pipeline: ctx.pipeline, ...(combo ? { matrix: combo.values } : {}) },
        diag,
      ) as PMap;
    }
    const inst = instance(ref, refAt, a, combo, ctx);
    if (inst) {
      res.instances.push(inst);
      // A matrix is required by its alias or by the job's name: both mean every instance.
      if (alias !== undefined) inst.groups = alias === ref ? [ref] : [alias, ref];
    }
  }
}

function instance(
  ref: string,
  refAt: Pos,
  args: PMap | undefined,
  combo: Combo | undefined,
  ctx: WorkflowContext,
): Instance | undefined {
  const { diag } = ctx;
  const get = (k: string): PNode | undefined => args?.index.get(k)?.value;
  const nameOverride = asString(get("name"), "name", diag);
  const name = nameOverride ?? (combo ? `${ref}-${combo.suffix}` : ref);
  const typeNode = get("type");
  const type = typeNode ? asString(typeNode, "type", diag) : undefined;
  if (type !== undefined && type !== "approval" && type !== "build") {
    diag.add(
      ConfigErrorCode.INVALID_VALUE,
      "a workflow job `type` is approval (or build)",
      typeNode!,
    );
  }
  const inst: Instance = {
    name,
    definition: ref,
    at: refAt,
    type: type === "approval" ? "approval" : "build",
    rawRequires: readRequires(get("requires"), diag),
    requires: [],
    contexts: asStringList(get("context"), "context", diag),
  };
  const filters = get("filters");
  if (filters) {
    const f = readFilters(filters, diag);
    if (f) inst.filters = f;
  }
  const sg = asString(get("serial-group"), "serial-group", diag);
  if (sg !== undefined) inst.serialGroup = sg;
  if (inst.type === "approval") {
    inst.body = {
      type: "approval",
      steps: [],
      environment: {},
      workingDirectory: "~/project",
      resourceClass: "medium",
      parallelism: 1,
    };
    return inst;
  }
  const el = lookup(ctx.root, "jobs", ref);
  if (isUnresolved(el)) return inst;
  if (!el) {
    diag.add(ConfigErrorCode.UNDEFINED_JOB, `job '${ref}' is not defined under \`jobs\``, refAt);
    return inst;
  }
  const jobArgs = [
    ...(args ? args.entries.filter((e) => !RESERVED.has(e.key)) : []),
    ...(combo?.entries ?? []),
  ];
  const body = expandJob(
    {
      el,
      args: jobArgs,
      at: refAt,
      root: ctx.root,
      ...(get("pre-steps") ? { preSteps: get("pre-steps")! } : {}),
      ...(get("post-steps") ? { postSteps: get("post-steps")! } : {}),
    },
    ctx,
  );
  if (body) {
    inst.body = body;
    if (body.type !== "build") inst.type = body.type;
  }
  return inst;
}

/** Resolves names (instance names, matrix aliases), then checks duplicates and cycles. */
function resolveRequires(res: WorkflowResult, diag: Diagnostics): boolean {
  let ok = true;
  const byName = new Map<string, Instance>();
  for (const i of res.instances) {
    if (byName.has(i.name)) {
      diag.add(
        ConfigErrorCode.DUPLICATE_NAME,
        `job name '${i.name}' is used twice in workflow '${res.name}' (give one a \`name:\`)`,
        i.at,
      );
      ok = false;
      continue;
    }
    byName.set(i.name, i);
  }
  const byAlias = new Map<string, Instance[]>();
  for (const i of res.instances) {
    for (const g of i.groups ?? []) {
      const list = byAlias.get(g) ?? [];
      list.push(i);
      byAlias.set(g, list);
    }
  }
  for (const i of res.instances) {
    for (const r of i.rawRequires) {
      const direct = byName.get(r.name);
      const targets = direct ? [direct] : byAlias.get(r.name);
      if (!targets) {
        diag.add(
          ConfigErrorCode.UNKNOWN_REQUIRES,
          `job '${i.name}' requires '${r.name}', which is not a job of workflow '${res.name}'`,
          r.at,
        );
        ok = false;
        continue;
      }
      for (const t of targets) {
        const existing = i.requires.find((x) => x.target === t);
        if (existing) {
          for (const s of r.statuses) if (!existing.statuses.includes(s)) existing.statuses.push(s);
        } else i.requires.push({ target: t, statuses: [...r.statuses] });
      }
    }
  }
  // Cycle check: iterative DFS, white/grey/black.
  const state = new Map<Instance, number>();
  for (const start of res.instances) {
    if (state.get(start)) continue;
    const stack: Array<{ n: Instance; i: number }> = [{ n: start, i: 0 }];
    state.set(start, 1);
    while (stack.length > 0) {
      const top = stack[stack.length - 1]!;
      const next = top.n.requires[top.i++];
      if (!next) {
        state.set(top.n, 2);
        stack.pop();
        continue;
      }
      const s = state.get(next.target) ?? 0;
      if (s === 1) {
        const from = stack.findIndex((f) => f.n === next.target);
        const path = [...stack.slice(from).map((f) => f.n.name), next.target.name];
        diag.add(
          ConfigErrorCode.CYCLE,
          `requires cycle in workflow '${res.name}': ${path.join(" -> ")}`,
          top.n.at,
        );
        ok = false;
      } else if (s === 0) {
        state.set(next.target, 1);
        stack.push({ n: next.target, i: 0 });
      }
    }
  }
  return ok;
}

/** The workflow for these pipeline values; undefined when it does not run. */
export function planWorkflow(res: WorkflowResult, v: PipelineValues): WorkflowPlan | undefined {
  if (!res.runs || !res.valid) return undefined;
  if (res.schedule) {
    if (v.triggerSource !== "scheduled_pipeline") return undefined;
    if (res.scheduleFilters && !allows(res.scheduleFilters, v.branch ?? "")) return undefined;
  }
  const runs = new Map<Instance, boolean>();
  const decide = (i: Instance): boolean => {
    const known = runs.get(i);
    if (known !== undefined) return known;
    runs.set(i, false); // the DAG is acyclic (checked); this only guards re-entry
    const ok = filterAllows(i.filters, v) && i.requires.every((r) => decide(r.target));
    runs.set(i, ok);
    return ok;
  };
  const jobs: JobPlan[] = [];
  for (const i of res.instances) {
    if (!decide(i) || !i.body) continue;
    const j: JobPlan = {
      name: i.name,
      definition: i.definition,
      type: i.type,
      requires: i.requires.map((r) => ({ job: r.target.name, statuses: r.statuses })),
      contexts: i.contexts,
      parallelism: i.body.parallelism,
      steps: i.body.steps,
      environment: i.body.environment,
      workingDirectory: i.body.workingDirectory,
      resourceClass: i.body.resourceClass,
    };
    if (i.body.executor && i.type === "build") j.executor = i.body.executor;
    if (i.body.shell !== undefined) j.shell = i.body.shell;
    if (i.serialGroup !== undefined) j.serialGroup = i.serialGroup;
    if (i.body.noOp) j.noOp = true;
    jobs.push(j);
  }
  const w: WorkflowPlan = { name: res.name, jobs };
  if (res.schedule) w.schedule = res.schedule;
  return w;
}
