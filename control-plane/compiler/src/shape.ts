/** Small readers that check the shape of config values and report what is wrong and where. */
import { ConfigErrorCode } from "./errors.js";
import type { Diagnostics } from "./errors.js";
import { scalarText } from "./yaml-source.js";
import type { PEntry, PMap, PNode } from "./yaml-source.js";

/** Reports every key of `map` not in `allowed`. */
export function checkKeys(
  map: PMap,
  allowed: ReadonlySet<string>,
  what: string,
  diag: Diagnostics,
): void {
  for (const e of map.entries) {
    if (!allowed.has(e.key)) {
      diag.add(ConfigErrorCode.UNKNOWN_KEY, `unknown key '${e.key}' in ${what}`, e.keyPos);
    }
  }
}

export function asMap(n: PNode | undefined, what: string, diag: Diagnostics): PMap | undefined {
  if (!n || (n.kind === "scalar" && n.value === null)) return undefined;
  if (n.kind === "map") return n;
  diag.add(ConfigErrorCode.INVALID_VALUE, `${what} must be a map`, n);
  return undefined;
}

/** A scalar as text; maps and lists are reported. */
export function asString(
  n: PNode | undefined,
  what: string,
  diag: Diagnostics,
): string | undefined {
  if (!n || (n.kind === "scalar" && n.value === null)) return undefined;
  if (n.kind === "scalar") return scalarText(n);
  diag.add(ConfigErrorCode.INVALID_VALUE, `${what} must be a string`, n);
  return undefined;
}

export function asBool(n: PNode | undefined, what: string, diag: Diagnostics): boolean | undefined {
  if (!n || (n.kind === "scalar" && n.value === null)) return undefined;
  if (n.kind === "scalar") {
    if (typeof n.value === "boolean") return n.value;
    if (n.value === "true") return true;
    if (n.value === "false") return false;
  }
  diag.add(ConfigErrorCode.INVALID_VALUE, `${what} must be true or false`, n);
  return undefined;
}

/** A string or a list of strings. */
export function asStringList(n: PNode | undefined, what: string, diag: Diagnostics): string[] {
  if (!n || (n.kind === "scalar" && n.value === null)) return [];
  if (n.kind === "scalar") return [scalarText(n)];
  if (n.kind === "seq") {
    const out: string[] = [];
    for (const i of n.items) {
      if (i.kind === "scalar") {
        if (i.value !== null) out.push(scalarText(i));
      } else if (i.kind === "seq") {
        // A nested list comes from an aliased list used as one item: flatten it.
        out.push(...asStringList(i, what, diag));
      } else diag.add(ConfigErrorCode.INVALID_VALUE, `${what} must be a list of strings`, i);
    }
    return out;
  }
  diag.add(ConfigErrorCode.INVALID_VALUE, `${what} must be a string or a list of strings`, n);
  return [];
}

/** A positive integer (a numeric string is accepted: it may come from interpolation). */
export function asPositiveInt(
  n: PNode | undefined,
  what: string,
  diag: Diagnostics,
): number | undefined {
  if (!n || (n.kind === "scalar" && n.value === null)) return undefined;
  if (n.kind === "scalar") {
    const v = typeof n.value === "number" ? n.value : Number(scalarText(n).trim());
    if (Number.isInteger(v) && v >= 1) return v;
  }
  diag.add(ConfigErrorCode.INVALID_VALUE, `${what} must be a positive integer`, n);
  return undefined;
}

/**
 * Environment in any of CircleCI's forms: a map, a list of `KEY=VALUE` strings, or a list of
 * one-key maps. Values are strings (numbers and booleans as written).
 */
export function asEnv(
  n: PNode | undefined,
  what: string,
  diag: Diagnostics,
): Record<string, string> {
  const out: Record<string, string> = {};
  if (!n || (n.kind === "scalar" && n.value === null)) return out;
  const addEntry = (e: PEntry): void => {
    if (e.value.kind !== "scalar") {
      diag.add(ConfigErrorCode.INVALID_VALUE, `${what}: '${e.key}' must be a string`, e.value);
      return;
    }
    out[e.key] = scalarText(e.value);
  };
  if (n.kind === "map") {
    for (const e of n.entries) addEntry(e);
    return out;
  }
  if (n.kind === "seq") {
    for (const i of n.items) {
      if (i.kind === "map") for (const e of i.entries) addEntry(e);
      else if (i.kind === "scalar" && typeof i.value === "string") {
        const eq = i.value.indexOf("=");
        if (eq <= 0) {
          diag.add(ConfigErrorCode.INVALID_VALUE, `${what}: '${i.value}' is not KEY=VALUE`, i);
        } else out[i.value.slice(0, eq)] = i.value.slice(eq + 1);
      } else if (i.kind === "seq") Object.assign(out, asEnv(i, what, diag));
      else diag.add(ConfigErrorCode.INVALID_VALUE, `${what}: entries must be KEY=VALUE or maps`, i);
    }
    return out;
  }
  diag.add(ConfigErrorCode.INVALID_VALUE, `${what} must be a map of variables`, n);
  return out;
}

const UNIT_MS: Record<string, number> = { h: 3_600_000, m: 60_000, s: 1000, ms: 1 };
const DURATION = /(\d+(?:\.\d+)?)(ms|h|m|s)/gy;

/** `10m`, `1h30m`, `20s`, `1.5h` to milliseconds; undefined (reported) when malformed. */
export function parseDuration(n: PNode, what: string, diag: Diagnostics): number | undefined {
  const text = n.kind === "scalar" ? scalarText(n).trim() : "";
  let total = 0;
  let pos = 0;
  DURATION.lastIndex = 0;
  for (let m = DURATION.exec(text); m; m = DURATION.exec(text)) {
    total += Number(m[1]) * (UNIT_MS[m[2] as string] as number);
    pos = DURATION.lastIndex;
  }
  if (text === "" || pos !== text.length) {
    diag.add(
      ConfigErrorCode.INVALID_VALUE,
      `${what}: '${text}' is not a duration like 10m, 1h30m or 20s`,
      n,
    );
    return undefined;
  }
  return Math.round(total);
}
