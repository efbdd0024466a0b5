import { compile } from "../src/index.js";
import type {
  CompileError,
  CompileOptions,
  CompileResult,
  PipelinePlan,
  PipelineValues,
} from "../src/index.js";

export function pipeline(over: Partial<PipelineValues> = {}): PipelineValues {
  return {
    id: "7f3c1a52-0000-4000-8000-000000000001",
    number: 42,
    projectSlug: "gh/acme/widgets",
    gitUrl: "https://example.test/acme/widgets.git",
    branch: "main",
    revision: "0123456789abcdef0123456789abcdef01234567",
    triggerSource: "api",
    parameters: {},
    ...over,
  };
}

export function run(
  source: string,
  over: Partial<PipelineValues> = {},
  opts: Partial<CompileOptions> = {},
): CompileResult {
  return compile(source, { file: "config.yml", pipeline: pipeline(over), ...opts });
}

/** Compiles and fails the test with the error list when there are errors. */
export function plan(
  source: string,
  over: Partial<PipelineValues> = {},
  opts: Partial<CompileOptions> = {},
): PipelinePlan {
  const r = run(source, over, opts);
  if (r.errors.length > 0 || !r.plan) {
    throw new Error(
      `expected no errors, got:\n${r.errors.map((e) => `${e.line}:${e.col} ${e.code} ${e.message}`).join("\n")}`,
    );
  }
  return r.plan;
}

export function errors(
  source: string,
  over: Partial<PipelineValues> = {},
  opts: Partial<CompileOptions> = {},
): CompileError[] {
  const r = run(source, over, opts);
  if (r.errors.length === 0) throw new Error("expected errors, compiled cleanly");
  return r.errors;
}

/** `line:col CODE` of each error, for compact assertions. */
export function where(errs: CompileError[]): string[] {
  return errs.map((e) => `${e.line}:${e.col} ${e.code}`);
}

export function jobNames(p: PipelinePlan, workflow?: string): string[] {
  const w = workflow ? p.workflows.find((x) => x.name === workflow) : p.workflows[0];
  return w ? w.jobs.map((j) => j.name) : [];
}

/** A 2.1 config with one docker job per name and a workflow section given as text. */
export const DOCKER = `    docker:
      - image: cimg/base:stable
`;
