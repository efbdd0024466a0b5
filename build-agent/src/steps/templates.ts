import { createHash } from "node:crypto";
import { AgentError, ErrorCodes } from "../errors.js";

export interface TemplateValues {
  branch: string;
  revision: string;
  buildNum: number;
  environment: Record<string, string>;
  /** `uname -m` of the job's container. */
  machine: string;
  now?: Date;
  /** sha256 (hex) of a file in the job's environment. */
  checksum(path: string): Promise<string>;
}

const EXPR = /\{\{\s*(.*?)\s*\}\}/g;

function archName(machine: string): string {
  const m = { x86_64: "amd64", aarch64: "arm64", armv7l: "arm" }[machine] ?? machine;
  return `arch1-linux-${m}`;
}

/** Resolves a cache key template; an unknown expression is an error naming it. */
export async function renderKey(template: string, v: TemplateValues): Promise<string> {
  const parts: Array<string | Promise<string>> = [];
  let last = 0;
  for (const m of template.matchAll(EXPR)) {
    parts.push(template.slice(last, m.index));
    last = m.index + m[0].length;
    const expr = m[1] ?? "";
    const checksum = /^checksum\s+"([^"]+)"$/.exec(expr);
    const envVar = /^\.Environment\.([A-Za-z_][A-Za-z0-9_]*)$/.exec(expr);
    if (checksum) parts.push(v.checksum(checksum[1] ?? ""));
    else if (envVar) parts.push(v.environment[envVar[1] ?? ""] ?? "<no value>");
    else if (expr === ".Branch") parts.push(v.branch);
    else if (expr === ".Revision") parts.push(v.revision);
    else if (expr === ".BuildNum") parts.push(String(v.buildNum));
    else if (expr === "epoch")
      parts.push(String(Math.floor((v.now ?? new Date()).getTime() / 1000)));
    else if (expr === "arch") parts.push(archName(v.machine));
    else {
      throw new AgentError(
        ErrorCodes.template,
        `cache key '${template}': unknown template expression '{{ ${expr} }}' (known: .Branch, .Revision, .BuildNum, .Environment.NAME, checksum "file", epoch, arch)`,
        { infrastructure: false },
      );
    }
  }
  parts.push(template.slice(last));
  const key = (await Promise.all(parts)).join("");
  return key.replace(/[^A-Za-z0-9._\-/+=:@]/g, "_");
}

export function sha256(data: Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}
