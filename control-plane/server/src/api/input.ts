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

/** Deepest nesting accepted in a request's JSON (recursive consumers such as `JSON.stringify`). */
export const MAX_JSON_DEPTH = 64;

interface Node {
  v: unknown;
  depth: number;
  key: string | number | null;
  parent: Node | null;
}

const pathOf = (n: Node): (string | number)[] => {
  const path: (string | number)[] = [];
  for (let at: Node | null = n; at && at.key !== null; at = at.parent) path.unshift(at.key);
  return path;
};

/**
 * Any JSON value whose strings and object keys all pass `pgText`, nested at most
 * `MAX_JSON_DEPTH` levels. Walked with an explicit stack; a path is built only for an issue.
 */
export const pgStorable: z.ZodType<unknown> = z.unknown().superRefine((value, ctx) => {
  const stack: Node[] = [{ v: value, depth: 0, key: null, parent: null }];
  const problem = (s: string) => pgText.safeParse(s).error?.issues[0]?.message;
  while (stack.length > 0) {
    const node = stack.pop()!;
    const { v } = node;
    if (typeof v === "string") {
      const p = problem(v);
      if (p) ctx.addIssue({ code: "custom", message: p, path: pathOf(node) });
      continue;
    }
    if (v === null || typeof v !== "object") continue;
    if (node.depth >= MAX_JSON_DEPTH) {
      ctx.addIssue({
        code: "custom",
        message: `nested deeper than ${MAX_JSON_DEPTH} levels`,
        path: pathOf(node),
      });
      continue;
    }
    const entries: [string | number, unknown][] = Array.isArray(v)
      ? v.map((x, i) => [i, x])
      : Object.entries(v);
    for (let i = entries.length - 1; i >= 0; i--) {
      const [key, x] = entries[i]!;
      if (typeof key === "string") {
        const p = problem(key);
        if (p) ctx.addIssue({ code: "custom", message: `keys ${p}`, path: pathOf(node) });
      }
      stack.push({ v: x, depth: node.depth + 1, key, parent: node });
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

/** Most fields one 400 lists (a body can hold thousands of bad strings). */
const MAX_FIELDS = 20;

function invalidInput(where: string, all: FieldIssue[]) {
  const unique = [...new Map(all.map((f) => [`${f.field}\n${f.message}`, f])).values()];
  const fields = unique.slice(0, MAX_FIELDS);
  const more = unique.length > MAX_FIELDS ? ` (and ${unique.length - MAX_FIELDS} more)` : "";
  return invalid(
    `Invalid ${where}: ${fields.map((f) => `${f.field}: ${f.message}`).join("; ")}${more}`,
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
