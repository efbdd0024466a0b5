import { posix } from "node:path";
import { AgentError, ErrorCodes } from "../errors.js";

/** Bad input in a step's config or files: the step (the user's job) fails, not the task. */
export function stepInputError(step: string, message: string): AgentError {
  return new AgentError(ErrorCodes.stepInput, `${step}: ${message}`, { infrastructure: false });
}

/**
 * `p` as a relative `/`-separated path with `.`, empty and inner `..` segments resolved
 * (`a/../b/./` -> `b`, `/x/` -> `x`); `""` for the root itself; undefined when it climbs above.
 */
export function normalizeRelative(p: string): string | undefined {
  const n = posix.normalize(`./${p.replace(/^\/+/, "")}`).replace(/\/+$/, "");
  if (n === "..") return undefined;
  if (n.startsWith("../")) return undefined;
  return n === "." ? "" : n;
}

/** Whether the absolute path `abs` is `root` or below it. */
export function isInside(root: string, abs: string): boolean {
  return root === "/" || abs === root || abs.startsWith(`${root.replace(/\/+$/, "")}/`);
}

/**
 * Why the control plane would refuse `p` as an artifact path (its rule: 1-1024 characters, no
 * empty, `.` or `..` segment, no backslash or NUL), or undefined when it is fine.
 */
export function artifactPathProblem(p: string): string | undefined {
  if (!p) return "it is empty";
  if (p.length > 1024) return "it is longer than 1024 characters";
  if (/[\\\0]/.test(p)) return "it holds a backslash or NUL";
  if (p.split("/").some((s) => !s || s === "." || s === ".."))
    return "it has an empty, '.' or '..' segment";
  return undefined;
}
