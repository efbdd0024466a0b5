import { randomUUID } from "node:crypto";
import type { CompileOptions } from "@drover/config-compiler";
import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { configOverLimit, MAX_CONFIG_BYTES } from "../../pipelines/limits.js";
import type { CompileFn } from "../../pipelines/trigger.js";
import { parse } from "../server.js";

const paramValue = z.union([z.string(), z.number(), z.boolean()]);
const params = z.record(z.string(), paramValue);

/** `pipeline_parameters` as circleci-cli sends it: a JSON object, or that object as a string. */
const pipelineParameters = z.union([
  params,
  z.string().transform((text, ctx) => {
    try {
      const parsed = params.safeParse(JSON.parse(text));
      if (parsed.success) return parsed.data;
    } catch {
      // reported below
    }
    ctx.addIssue({
      code: "custom",
      message: "must be a JSON object of strings, numbers, booleans",
    });
    return z.NEVER;
  }),
]);

/** `POST /compile-config-with-defaults` (circleci-cli's `config validate` / `config process`). */
export const compileBodySchema = z
  .object({
    config_yaml: z.string().refine((t) => configOverLimit(t) === 0, {
      message: `must be at most ${MAX_CONFIG_BYTES} bytes of UTF-8 (the compiler's limit)`,
    }),
    options: z
      .object({
        owner_id: z.string().optional(),
        /** `pipeline.git.branch`, `pipeline.git.tag`, `pipeline.git.revision`, `pipeline.project.slug`... */
        pipeline_values: z.record(z.string(), paramValue).optional(),
        pipeline_parameters: pipelineParameters.optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

const str = (v: unknown): string | undefined => (typeof v === "string" && v ? v : undefined);

/** The pipeline values the compiler sees: the caller's, else neutral defaults. */
function valuesOf(body: z.infer<typeof compileBodySchema>): CompileOptions["pipeline"] {
  const v = body.options?.pipeline_values ?? {};
  const branch = str(v["pipeline.git.branch"]);
  const tag = str(v["pipeline.git.tag"]);
  return {
    id: randomUUID(),
    number: typeof v["pipeline.number"] === "number" ? v["pipeline.number"] : 1,
    projectSlug: str(v["pipeline.project.slug"]) ?? "gh/drover/compile",
    gitUrl: str(v["pipeline.project.git_url"]) ?? "",
    ...(branch ? { branch } : tag ? {} : { branch: "main" }),
    ...(tag ? { tag } : {}),
    revision: str(v["pipeline.git.revision"]) ?? "0".repeat(40),
    triggerSource: str(v["pipeline.trigger_source"]) ?? "api",
    parameters: body.options?.pipeline_parameters ?? {},
  };
}

/** Validates and processes a config with the compiler; its findings are `file:line:col: ...`. */
export function registerCompileConfigRoutes(
  app: FastifyInstance,
  deps: { compile: CompileFn; orbsDir?: string },
): void {
  app.post("/api/v2/compile-config-with-defaults", async (req) => {
    const body = parse(compileBodySchema, req.body);
    const result = await deps.compile(body.config_yaml, {
      pipeline: valuesOf(body),
      ...(deps.orbsDir ? { orbsDir: deps.orbsDir } : {}),
    });
    const errors = result.errors.map((e) => ({
      message: `${e.file}:${e.line}:${e.col}: ${e.message}`,
      code: e.code,
    }));
    return {
      valid: errors.length === 0,
      errors,
      "source-yaml": body.config_yaml,
      "output-yaml": errors.length === 0 ? (result.processed ?? "") : "",
    };
  });
}
