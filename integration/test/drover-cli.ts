/** Runs the built `drover` CLI as a newcomer would (a fresh environment, the repository's build). */
import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

export const root = fileURLToPath(new URL("../..", import.meta.url));
const cli = join(root, "control-plane", "cli", "dist", "main.js");

/** Builds the project when the CLI or the agent has not been built yet. */
export function ensureBuilt(): void {
  if (!existsSync(cli) || !existsSync(join(root, "build-agent", "dist", "main.js"))) {
    execFileSync(
      process.execPath,
      [join(root, "node_modules", "typescript", "bin", "tsc"), "--build"],
      { cwd: root, stdio: "inherit" },
    );
  }
}

/** `drover ARGS` in `cwd`, killed after `timeoutMs`; resolves with its exit code and output. */
export function drover(
  args: string[],
  cwd: string,
  timeoutMs = 240_000,
  env: Record<string, string> = {},
): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [cli, ...args], {
      cwd,
      env: {
        ...process.env,
        DROVER_URL: "",
        DROVER_TOKEN: "",
        NOMAD_ADDR: "",
        DATABASE_URL: "",
        DROVER_VM_URL: "",
        ...env,
      },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("error", reject);
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}
