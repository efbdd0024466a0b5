/**
 * Decodes a task's JSON `Config` against a driver's spec the way a Nomad client does: HCL's JSON
 * syntax (hashicorp/hcl v2.20.2-nomad-1, 55d9c02d147df0a04834086f4c082b387ad8f010: json/structure.go,
 * hcldec/spec.go) with go-cty's conversions and their wording (zclconf/go-cty, cty/convert:
 * public.go, mismatch_msg.go, conversion_primitive.go), each diagnostic turned into an error as
 * Nomad's helper/pluginutils/hclutils (formattedDiagnosticErrors) does. Not covered: `${...}`
 * template interpolation inside strings, and source positions (HCL names `file:line,col`; here
 * the place is named by its path in the config).
 */
import type { BodySpec, FieldSpec, HclType } from "./specs.js";

/** One diagnostic, as `<summary>: <detail>` (hclutils renames "Extraneous JSON object property"). */
export interface ConfigProblem {
  /** Where in the config, e.g. `["mount", "0", "volume_options", "labels"]`. */
  path: string[];
  summary: string;
  detail: string;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

interface JsonAttr {
  name: string;
  value: Json;
  path: string[];
}

const isObject = (v: unknown): v is Record<string, Json> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** Problems of `config` against `spec`, in the order HCL reports them (empty when valid). */
export function decodeConfig(spec: BodySpec, config: unknown): ConfigProblem[] {
  return decodeBody(spec, (config ?? null) as Json, []);
}

/** Nomad's client's wording of one problem (`formattedDiagnosticErrors`). */
export function problemText(p: ConfigProblem): string {
  return `${p.summary}: ${p.detail}`;
}

/**
 * The `ValidationError` of the task event a Nomad client emits for these problems:
 * `multierror.Append(errors.New("failed to parse config: "), diagErrs...)`, printed.
 */
export function validationErrorText(problems: ConfigProblem[]): string {
  return multiErrorText(["failed to parse config: ", ...problems.map(problemText)]);
}

/** hashicorp/go-multierror's list format, which Nomad prints its multi-errors with. */
export function multiErrorText(errors: string[]): string {
  if (errors.length === 1) return `1 error occurred:\n\t* ${errors[0]}\n\n`;
  return `${errors.length} errors occurred:\n\t${errors.map((e) => `* ${e}`).join("\n\t")}\n\n`;
}

// ---- bodies (json/structure.go, hcldec/spec.go) ----------------------------------------------

/** `body.collectDeepAttrs`: an object's properties, or those of every object in an array. */
function collectAttrs(v: Json, path: string[]): { attrs: JsonAttr[]; problems: ConfigProblem[] } {
  const attrs: JsonAttr[] = [];
  const problems: ConfigProblem[] = [];
  const own = (o: Record<string, Json>, at: string[]): void => {
    for (const [name, value] of Object.entries(o)) attrs.push({ name, value, path: [...at, name] });
  };
  if (v === null) return { attrs, problems };
  if (isObject(v)) own(v, path);
  else if (Array.isArray(v)) {
    v.forEach((e, i) => {
      if (isObject(e)) own(e, [...path, String(i)]);
      else
        problems.push({
          path: [...path, String(i)],
          summary: "Incorrect JSON value type",
          detail: "A JSON object is required here, to define arguments and child blocks.",
        });
    });
  } else {
    problems.push({
      path,
      summary: "Incorrect JSON value type",
      detail:
        "Either a JSON object or JSON array of objects is required here, to define arguments and child blocks.",
    });
  }
  return { attrs, problems };
}

interface Block {
  value: Json;
  path: string[];
}

/** `hcldec.Decode` of one body with an object spec (`body.Content`, then each field). */
function decodeBody(spec: BodySpec, v: Json, path: string[]): ConfigProblem[] {
  const problems: ConfigProblem[] = [];
  const { attrs, problems: shape } = collectAttrs(v, path);
  // PartialContent: attributes, blocks, missing required attributes.
  problems.push(...shape);
  const defined = new Map<string, JsonAttr>();
  const blocks = new Map<string, Block[]>();
  for (const a of attrs) {
    const field = spec[a.name];
    if (!field) continue;
    if (field.kind === "attr") {
      const first = defined.get(a.name);
      if (first) {
        problems.push({
          path: a.path,
          summary: "Duplicate argument",
          detail: `The argument "${a.name}" was already set at ${where(first.path)}.`,
        });
        continue;
      }
      defined.set(a.name, a);
    } else {
      problems.push(...unpackBlock(a, blocks));
    }
  }
  for (const [name, field] of Object.entries(spec)) {
    if (field.kind === "attr" && field.required && !defined.has(name)) {
      problems.push({
        path,
        summary: "Missing required argument",
        detail: `The argument "${name}" is required, but no definition was found.`,
      });
    }
  }
  // Content: collects the properties a second time (repeating their shape problems), then
  // reports every property the spec does not name.
  problems.push(...shape);
  const suggestions = [
    ...Object.entries(spec)
      .filter(([name, f]) => f.kind === "attr" && !defined.has(name))
      .map(([name]) => name),
    ...Object.entries(spec)
      .filter(([, f]) => f.kind !== "attr")
      .map(([name]) => name),
  ];
  for (const a of attrs) {
    if (a.name === "//" || spec[a.name]) continue;
    const close = suggestions.find((s) => levenshtein(a.name, s) < 3);
    problems.push({
      path: a.path,
      summary: "Invalid label",
      detail: `No argument or block type is named "${a.name}".${close ? ` Did you mean "${close}"?` : ""}`,
    });
  }
  // Each field's value.
  for (const [name, field] of Object.entries(spec)) {
    problems.push(...decodeField(name, field, defined.get(name), blocks.get(name) ?? []));
  }
  return problems;
}

/** `body.unpackBlock` (no labels): an object is one block, an array holds several. */
function unpackBlock(a: JsonAttr, blocks: Map<string, Block[]>): ConfigProblem[] {
  const list = blocks.get(a.name) ?? [];
  blocks.set(a.name, list);
  if (a.value === null) return [];
  if (isObject(a.value)) list.push({ value: a.value, path: a.path });
  else if (Array.isArray(a.value))
    a.value.forEach((value, i) => list.push({ value, path: [...a.path, String(i)] }));
  else
    return [
      {
        path: a.path,
        summary: "Incorrect JSON value type",
        detail: `Either a JSON object or a JSON array is required, representing the contents of one or more "${a.name}" blocks.`,
      },
    ];
  return [];
}

function decodeField(
  name: string,
  field: FieldSpec,
  attr: JsonAttr | undefined,
  blocks: Block[],
): ConfigProblem[] {
  switch (field.kind) {
    case "attr": {
      if (!attr) return [];
      const err = convert(attr.value, field.type);
      if (err === undefined) return [];
      return [
        {
          path: attr.path,
          summary: "Incorrect attribute value type",
          detail: `Inappropriate value for attribute "${name}": ${err}.`,
        },
      ];
    }
    case "block": {
      const [first, second] = blocks;
      if (!first) return [];
      const dup = second ? [duplicateBlock(name, first, second)] : [];
      return [...dup, ...decodeBody(field.body, first.value, first.path)];
    }
    case "blockList":
      return blocks.flatMap((b) => decodeBody(field.body, b.value, b.path));
    case "blockAttrs": {
      const [first, second] = blocks;
      if (!first) return [];
      const problems = second ? [duplicateBlock(name, first, second)] : [];
      if (!isObject(first.value)) {
        problems.push({
          path: first.path,
          summary: "Incorrect JSON value type",
          detail: "A JSON object is required here, setting the arguments for this block.",
        });
        return problems;
      }
      for (const [key, value] of Object.entries(first.value)) {
        if (key === "//") continue;
        const err = convert(value, field.type);
        if (err !== undefined)
          problems.push({
            path: [...first.path, key],
            summary: "Invalid attribute value",
            detail: `Invalid value for attribute of "${name}" block: ${err}.`,
          });
      }
      return problems;
    }
  }
}

function duplicateBlock(name: string, first: Block, other: Block): ConfigProblem {
  return {
    path: other.path,
    summary: `Duplicate ${name} block`,
    detail: `Only one block of type "${name}" is allowed. Previous definition was at ${where(first.path)}.`,
  };
}

/** Stands for HCL's source range: the place in the config. */
function where(path: string[]): string {
  return path.length ? `Config.${path.join(".")}` : "Config";
}

// ---- values (cty/convert) --------------------------------------------------------------------

/** cty's friendly name of a type. */
function typeName(t: HclType): string {
  return t.kind === "list" || t.kind === "map" ? `${t.kind} of ${typeName(t.of)}` : t.kind;
}

/** cty's name of a JSON value's type (arrays are tuples, objects are objects). */
function valueTypeName(v: Json): string {
  if (Array.isArray(v)) return "tuple";
  if (isObject(v)) return "object";
  return typeof v === "boolean" ? "bool" : typeof v;
}

/** Whether cty has a (possibly unsafe) conversion from the value's type to `want`. */
function convertible(v: Json, want: HclType): boolean {
  if (v === null) return true;
  switch (want.kind) {
    case "string":
      return !Array.isArray(v) && !isObject(v);
    case "number":
      return typeof v === "number" || typeof v === "string";
    case "bool":
      return typeof v === "boolean" || typeof v === "string";
    case "list":
      return Array.isArray(v) && v.every((e) => convertible(e, want.of));
    case "map":
      return isObject(v) && Object.values(v).every((e) => convertible(e, want.of));
  }
}

/** `convert.MismatchMessage`: why a value's type cannot become `want`. */
function mismatch(v: Json, want: HclType): string {
  const structural = Array.isArray(v) || isObject(v);
  if (structural && (want.kind === "list" || want.kind === "map")) {
    if (want.kind === "list" && !Array.isArray(v)) return `${typeName(want)} required`;
    if (want.kind === "map" && !isObject(v)) return `${typeName(want)} required`;
    const entries: Array<[string, Json]> = Array.isArray(v)
      ? v.map((e, i) => [String(i), e])
      : Object.entries(v as Record<string, Json>).sort(([a], [b]) => (a < b ? -1 : 1));
    for (const [key, e] of entries) {
      if (convertible(e, want.of)) continue;
      const label = Array.isArray(v) ? key : `"${key}"`;
      return `element ${label}: ${mismatch(e, want.of)}`;
    }
    return `all elements must be ${typeName(want.of)}`;
  }
  return `${typeName(want)} required, but have ${valueTypeName(v)}`;
}

/** `convert.Convert`'s error for `v` as `want`, or undefined when it converts. */
function convert(v: Json, want: HclType): string | undefined {
  if (!convertible(v, want)) return mismatch(v, want);
  if (v === null) return undefined;
  switch (want.kind) {
    case "number":
      return typeof v === "string" && !NUMBER.test(v) ? "a number is required" : undefined;
    case "bool": {
      if (typeof v !== "string" || ["true", "1", "false", "0"].includes(v)) return undefined;
      const lower = v.toLowerCase();
      return lower === "true" || lower === "false"
        ? `a bool is required; to convert from string, use lowercase "${lower}"`
        : "a bool is required";
    }
    case "list":
      for (const e of v as Json[]) {
        const err = convert(e, want.of);
        if (err !== undefined) return err;
      }
      return undefined;
    case "map":
      for (const [, e] of Object.entries(v as Record<string, Json>).sort(([a], [b]) =>
        a < b ? -1 : 1,
      )) {
        const err = convert(e, want.of);
        if (err !== undefined) return err;
      }
      return undefined;
    default:
      return undefined;
  }
}

/** What `big.ParseFloat(s, 10, ...)` accepts (cty.ParseNumberVal). */
const NUMBER = /^[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|[Ii]nf)$/;

/** Edit distance with unit costs (agext/levenshtein's defaults). */
function levenshtein(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        prev[j]! + 1,
        row[j - 1]! + 1,
        prev[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    prev = row;
  }
  return prev[b.length]!;
}
