/**
 * Input checks at the API edge, run on every request before its handler (`checkRequestInput`, a
 * `preValidation` hook): route params, query strings and JSON bodies hold only strings PostgreSQL
 * can store, and numeric route params are integers PostgreSQL can compare. A failure is a 400
 * (`DROVER_ERR_VALIDATION`) naming each offending field, never a database error.
 */
import type { FastifyRequest } from "fastify";
import { z } from "zod";
import { PG_INTEGER_MAX, pgTextProblem } from "../db/limits.js";
import { invalid, type FieldIssue } from "../model/errors.js";

/** The shared refinement: a string PostgreSQL can store as `text` and inside `jsonb`. */
export const pgText = z.string().superRefine((s, ctx) => {
  const problem = pgTextProblem(s);
  if (problem) ctx.addIssue({ code: "custom", message: problem });
});

/** Any JSON value whose strings and object keys all pass `pgText` (walked without recursion). */
export const pgStorable: z.ZodType<unknown> = z.unknown().superRefine((value, ctx) => {
  const stack: { v: unknown; path: (string | number)[] }[] = [{ v: value, path: [] }];
  while (stack.length > 0) {
    const { v, path } = stack.pop()!;
    if (typeof v === "string") {
      const r = pgText.safeParse(v);
      if (!r.success) ctx.addIssue({ code: "custom", message: r.error.issues[0]!.message, path });
    } else if (Array.isArray(v)) {
      for (let i = v.length - 1; i >= 0; i--) stack.push({ v: v[i], path: [...path, i] });
    } else if (v !== null && typeof v === "object") {
      for (const [k, x] of Object.entries(v).reverse()) {
        const r = pgText.safeParse(k);
        if (!r.success) {
          ctx.addIssue({ code: "custom", message: `keys ${r.error.issues[0]!.message}`, path });
        }
        stack.push({ v: x, path: [...path, k] });
      }
    }
  }
});

/** Route params that are numbers wherever they appear, and their smallest value. */
const NUMERIC_PARAMS: Readonly<Record<string, number>> = { number: 1, node: 0 };

const integerParam = (min: number) =>
  z
    .string()
    .regex(/^(0|[1-9][0-9]*)$/, `must be an integer from ${min} to ${PG_INTEGER_MAX}`)
    .refine((s) => s.length <= 10 && Number(s) >= min && Number(s) <= PG_INTEGER_MAX, {
      message: `must be an integer from ${min} to ${PG_INTEGER_MAX}`,
    });

function issuesOf(
  schema: z.ZodType<unknown>,
  value: unknown,
  where: string,
  prefix: string[] = [],
): FieldIssue[] {
  const r = schema.safeParse(value);
  if (r.success) return [];
  return r.error.issues.map((i) => {
    const path = [...prefix, ...i.path.map(String)];
    return { field: path.length ? path.join(".") : where, message: i.message };
  });
}

/** Throws a 400 naming every field of `value` PostgreSQL could not store. */
export function assertPgStorable(value: unknown, where: string): void {
  const fields = issuesOf(pgStorable, value, where);
  if (fields.length > 0) throw invalidInput(where, fields);
}

function invalidInput(where: string, fields: FieldIssue[]) {
  return invalid(
    `Invalid ${where}: ${fields.map((f) => `${f.field}: ${f.message}`).join("; ")}`,
    fields,
  );
}

/** A JSON body as Fastify's JSON parser leaves it (not a raw Buffer nor a stream). */
const isParsedJson = (b: unknown): boolean =>
  typeof b === "string" ||
  Array.isArray(b) ||
  (b !== null &&
    typeof b === "object" &&
    !Buffer.isBuffer(b) &&
    typeof (b as { pipe?: unknown }).pipe !== "function");

/** The `preValidation` hook: every route's params, query and parsed body, checked once. */
export async function checkRequestInput(req: FastifyRequest): Promise<void> {
  const fields: FieldIssue[] = [];
  const params = (req.params ?? {}) as Record<string, unknown>;
  fields.push(...issuesOf(pgStorable, params, "params"));
  for (const [name, min] of Object.entries(NUMERIC_PARAMS)) {
    const v = params[name];
    if (typeof v === "string" && !pgTextProblem(v))
      fields.push(...issuesOf(integerParam(min), v, name, [name]));
  }
  fields.push(...issuesOf(pgStorable, req.query, "query"));
  if (isParsedJson(req.body)) fields.push(...issuesOf(pgStorable, req.body, "body"));
  if (fields.length > 0) throw invalidInput("request", fields);
}
