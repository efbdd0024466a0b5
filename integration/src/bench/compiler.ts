/**
 * `npm run bench -- compiler [--corpus DIR] [--jobs N] [--distinct N]`: compile time over the
 * shared CircleCI corpus (median and worst of per-file medians), for a generated config of 10,000
 * workflow jobs (time, retained heap, RSS), and for a YAML-heavy config where every job is its own
 * definition. Each figure is printed beside its goal and beside yaml's parseDocument of the same
 * text measured in the same run (the library's parse alone: what the compiler's first stage used
 * to be, and still is for YAML outside the one-pass reader's subset).
 */
import { readdirSync, readFileSync } from "node:fs";
import { availableParallelism, loadavg } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { compile } from "@drover/config-compiler";
import type { PipelineValues } from "@drover/config-compiler";
import { parseDocument } from "yaml";

const CORPUS_MEDIAN_GOAL_MS = 5;
const BIG_GOAL_MS = 2000;
/** A config nested past MAX_YAML_DEPTH is refused in milliseconds (it used to take 1.7 s of CPU). */
const DEEP_GOAL_MS = 20;
/** The peer: yaml's parseDocument of the same text (the library parse alone). */
const PARSE_OPTS = { uniqueKeys: false } as const;
const yamlOnly = (text: string): unknown => parseDocument(text, PARSE_OPTS);

const pipeline: PipelineValues = {
  id: "00000000-0000-4000-8000-000000000000",
  number: 1,
  projectSlug: "gh/bench/project",
  gitUrl: "https://example.invalid/bench.git",
  branch: "main",
  revision: "c0ffee0000000000000000000000000000000000",
  triggerSource: "api",
  parameters: {},
};

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

function time(fn: () => unknown, runs: number): number {
  const t: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t0 = performance.now();
    fn();
    t.push(performance.now() - t0);
  }
  return median(t);
}

const ms = (x: number): string => (x < 10 ? x.toFixed(2) : x.toFixed(0));
const ratio = (x: number, of: number): string => `${(x / of).toFixed(2)}x`;
const mb = (b: number): string => `${(b / 1024 / 1024).toFixed(0)} MB`;

const HEADER = [
  "version: 2.1",
  "parameters:",
  "  deploy: {type: boolean, default: false}",
  "executors:",
  "  node:",
  "    parameters:",
  "      tag: {type: string, default: '20.11'}",
  "    docker:",
  "      - image: cimg/node:<< parameters.tag >>",
  "      - image: cimg/postgres:15.4",
  "        environment: {POSTGRES_USER: ci}",
  "    resource_class: medium",
  "commands:",
  "  install:",
  "    parameters:",
  "      key: {type: string}",
  "    steps:",
  "      - restore_cache: {keys: ['v1-<< parameters.key >>-{{ checksum \"package-lock.json\" }}', 'v1-<< parameters.key >>-']}",
  "      - run: npm ci",
  "      - save_cache: {key: 'v1-<< parameters.key >>-{{ checksum \"package-lock.json\" }}', paths: [node_modules]}",
  "jobs:",
];

function definition(name: string): string[] {
  return [
    `  ${name}:`,
    "    parameters: {shard: {type: integer, default: 1}, node: {type: string, default: '20.0'}}",
    "    executor: {name: node, tag: << parameters.node >>}",
    `    environment: {SUITE: ${name}}`,
    "    steps:",
    "      - checkout",
    `      - install: {key: ${name}}`,
    `      - run: {name: Test, command: npm test -- --shard=<< parameters.shard >>, no_output_timeout: 20m}`,
    "      - when: {condition: << pipeline.parameters.deploy >>, steps: [{run: ./deploy.sh}]}",
  ];
}

function requires(i: number, name: (k: number) => string): string {
  return [i - 1, i - 7, i - 50]
    .filter((x) => x >= 0)
    .map(name)
    .join(", ");
}

/**
 * `n` workflow jobs over `defs` parameterized job definitions (how large configs are written:
 * a few hundred jobs invoked many times with `name:` and parameters), with fan-in edges.
 */
export function generateConfig(n: number, defs = 200): string {
  const out = [...HEADER];
  for (let d = 0; d < Math.min(defs, n); d++) out.push(...definition(`test-${d}`));
  out.push("workflows:", "  ci:", "    jobs:");
  for (let i = 0; i < n; i++) {
    const filters = i % 100 === 0 ? ", filters: {branches: {only: [main, /release\\/.*/]}}" : "";
    out.push(
      `      - test-${i % defs}: {name: t-${i}, shard: ${(i % 8) + 1}, node: '${18 + (i % 4)}.0', ` +
        `requires: [${requires(i, (k) => `t-${k}`)}]${filters}}`,
    );
  }
  return `${out.join("\n")}\n`;
}

/**
 * `groups` job definitions, each invoked once with a 25x20 matrix (500 instances); instance
 * `(a, b)` of group k requires the same instance of group k-1. Small YAML, all expansion.
 */
export function generateMatrixConfig(groups: number): string {
  const out = [...HEADER];
  for (let g = 0; g < groups; g++) {
    out.push(
      ...definition(`g${g}`).map((l) =>
        l.replace(
          "{shard: {type: integer, default: 1},",
          "{a: {type: integer}, b: {type: integer}, shard: {type: integer, default: 1},",
        ),
      ),
    );
  }
  const a = Array.from({ length: 25 }, (_, i) => i).join(", ");
  const b = Array.from({ length: 20 }, (_, i) => i).join(", ");
  out.push("workflows:", "  ci:", "    jobs:");
  for (let g = 0; g < groups; g++) {
    out.push(`      - g${g}:`, `          matrix: {parameters: {a: [${a}], b: [${b}]}}`);
    if (g > 0) out.push(`          requires: [g${g - 1}-<< matrix.a >>-<< matrix.b >>]`);
  }
  return `${out.join("\n")}\n`;
}

/** `n` distinct job definitions, each invoked once: the YAML-heavy extreme. */
export function generateDistinctConfig(n: number): string {
  const out = [...HEADER];
  for (let i = 0; i < n; i++) out.push(...definition(`job-${i}`));
  out.push("workflows:", "  ci:", "    jobs:");
  for (let i = 0; i < n; i++) {
    out.push(
      `      - job-${i}: {shard: ${(i % 8) + 1}, requires: [${requires(i, (k) => `job-${k}`)}]}`,
    );
  }
  return `${out.join("\n")}\n`;
}

/** Pathologically nested configs: 10,000 levels of each shape, and 5 MB of `[`. */
export function deepConfigs(levels = 10_000): Array<[string, string]> {
  const head = "version: 2.1\njobs: ";
  return [
    ["flow lists", `${head}${"[".repeat(levels)}${"]".repeat(levels)}\n`],
    ["block lists", `version: 2.1\njobs:\n${"- ".repeat(levels)}x\n`],
    ["flow maps", `${head}${"{a: ".repeat(levels)}1${"}".repeat(levels)}\n`],
    [
      "block maps (1,000 levels)",
      `version: 2.1\njobs:\n${Array.from({ length: 1000 }, (_, i) => `${" ".repeat(i + 1)}a:`).join("\n")} 1\n`,
    ],
    ["5 MB of [", `${head}${"[".repeat(5 * 1024 * 1024 - head.length - 1)}\n`],
  ];
}

/** A collector for honest retained-heap figures without `--expose-gc` on the command line. */
function gcFn(): () => void {
  setFlagsFromString("--expose-gc");
  return runInNewContext("gc") as () => void;
}

interface BigFigures {
  mb: number;
  jobs: number;
  coldMs: number;
  /** CPU time of the cold compile (all threads): meaningful when the machine is shared. */
  coldCpuMs: number;
  warmMs: number;
  parseMs: number;
  retainedHeap: number;
  rssGrowth: number;
  errors: string[];
}

function measureBig(text: string, warmRuns: number): BigFigures {
  const gc = gcFn();
  gc();
  const before = process.memoryUsage();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = compile(text, { file: "generated.yml", pipeline });
  const coldMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const rss = process.memoryUsage().rss;
  gc();
  const retainedHeap = process.memoryUsage().heapUsed - before.heapUsed;
  const jobs = r.plan?.workflows.reduce((s, w) => s + w.jobs.length, 0) ?? 0;
  const errors = r.errors.slice(0, 3).map((e) => `${e.code} ${e.message}`);
  const warmMs = time(() => compile(text, { file: "generated.yml", pipeline }), warmRuns);
  const parseMs = time(() => yamlOnly(text), warmRuns);
  return {
    mb: text.length / 1024 / 1024,
    jobs,
    coldMs,
    coldCpuMs: (cpu.user + cpu.system) / 1000,
    warmMs,
    parseMs,
    retainedHeap,
    rssGrowth: rss - before.rss,
    errors,
  };
}

export async function run(args: string[]): Promise<void> {
  const { values } = parseArgs({
    args,
    options: {
      corpus: { type: "string" },
      jobs: { type: "string", default: "10000" },
      distinct: { type: "string", default: "2000" },
    },
  });
  const repo = fileURLToPath(new URL("../../../", import.meta.url));
  const dir = values.corpus ?? join(repo, "..", "shared", "conformance", "circleci-configs");
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".yml"))
    .sort();

  // Corpus: per-file median of 15 runs after 5 warm-ups; then median and worst over files.
  const perFile: Array<{ f: string; compileMs: number; parseMs: number; ok: boolean }> = [];
  for (const f of files) {
    const text = readFileSync(join(dir, f), "utf8");
    const go = () => compile(text, { file: f, pipeline });
    for (let i = 0; i < 5; i++) go();
    const r = go();
    const ok = r.errors.every((e) => e.code === "DROVER_ERR_CONFIG_ORB_UNRESOLVED");
    perFile.push({
      f,
      compileMs: time(go, 15),
      parseMs: time(() => yamlOnly(text), 15),
      ok,
    });
  }
  const med = median(perFile.map((p) => p.compileMs));
  const worst = perFile.reduce((a, b) => (b.compileMs > a.compileMs ? b : a));
  const parseMed = median(perFile.map((p) => p.parseMs));
  const bad = perFile.filter((p) => !p.ok).map((p) => p.f);
  process.stdout.write(
    `corpus: ${files.length} configs${bad.length ? ` (UNEXPECTED ERRORS in ${bad.join(", ")})` : ""}\n` +
      `corpus median ${ms(med)} ms (goal ${CORPUS_MEDIAN_GOAL_MS} ms: ${ratio(med, CORPUS_MEDIAN_GOAL_MS)}; ` +
      `yaml parseDocument alone ${ms(parseMed)} ms: ${ratio(med, parseMed)})\n` +
      `corpus worst ${ms(worst.compileMs)} ms in ${worst.f} (goal ${CORPUS_MEDIAN_GOAL_MS} ms: ` +
      `${ratio(worst.compileMs, CORPUS_MEDIAN_GOAL_MS)}; yaml parseDocument alone ${ms(worst.parseMs)} ms: ` +
      `${ratio(worst.compileMs, worst.parseMs)})\n`,
  );

  // The 10,000-job config: a cold compile (what a trigger pays) with memory around it, then warm.
  const n = Number(values.jobs);
  const big = measureBig(generateConfig(n), 3);
  report(`${n}-job config`, n, big);
  // The same number of jobs from 20 matrices: little YAML, so this is the compiler's own cost.
  const groups = Math.max(1, Math.round(n / 500));
  const matrix = measureBig(generateMatrixConfig(groups), 3);
  report(`${groups * 500}-job matrix config`, groups * 500, matrix);
  // The extreme: every job its own definition (several MB of YAML; parsing dominates).
  const d = Number(values.distinct);
  const distinct = measureBig(generateDistinctConfig(d), 1);
  report(`${d}-definition config`, d, distinct);
  // Nesting past the depth limit: refused before any recursive parser sees it.
  for (const [label, text] of deepConfigs()) {
    const go = () => compile(text, { file: "deep.yml", pipeline });
    const codes = [...new Set(go().errors.map((e) => e.code))].join(", ");
    const cpu0 = process.cpuUsage();
    const t = time(go, 5);
    const cpu = process.cpuUsage(cpu0);
    process.stdout.write(
      `deep nesting, ${label}: ${ms(t)} ms (goal ${DEEP_GOAL_MS} ms: ${ratio(t, DEEP_GOAL_MS)}; ` +
        `CPU ${ms((cpu.user + cpu.system) / 1000 / 5)} ms per compile) -> ${codes || "no error"}\n`,
    );
  }
  const [l1] = loadavg();
  process.stdout.write(
    `(load average ${l1?.toFixed(1)} on ${availableParallelism()} cores while measuring)\n`,
  );
}

function report(label: string, n: number, f: BigFigures): void {
  if (f.errors.length > 0) process.stdout.write(`${label} has errors: ${f.errors.join("; ")}\n`);
  process.stdout.write(
    `${label} (${f.mb.toFixed(1)} MB, ${f.jobs}/${n} jobs planned): ${ms(f.coldMs)} ms cold ` +
      `(goal ${BIG_GOAL_MS} ms: ${ratio(f.coldMs, BIG_GOAL_MS)}; CPU ${ms(f.coldCpuMs)} ms: ${ratio(f.coldCpuMs, BIG_GOAL_MS)}), ${ms(f.warmMs)} ms warm ` +
      `(${ratio(f.warmMs, BIG_GOAL_MS)}; yaml parseDocument alone ${ms(f.parseMs)} ms: ${ratio(f.warmMs, f.parseMs)})\n` +
      `${label} memory: ${mb(f.retainedHeap)} heap retained by the result, RSS +${mb(f.rssGrowth)} ` +
      `during the cold compile, peak RSS ${mb(process.resourceUsage().maxRSS * 1024)}\n`,
  );
}
