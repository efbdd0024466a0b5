import { spawn, execFile, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { APP_KEY, APP_SECRET, READ_TOKEN, TOKEN_SECRET } from "./env.js";

const root = fileURLToPath(new URL("../../../", import.meta.url));
const main = `${root}output-processor/dist/main.js`;

/** Builds the workspace so the child runs the current source. */
export async function buildOnce(): Promise<void> {
  await promisify(execFile)(process.execPath, [
    `${root}node_modules/typescript/bin/tsc`,
    "--build",
    `${root}output-processor`,
  ]);
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

/** Starts `output-processor/dist/main.js` as a child; resolves once it listens. */
export async function startChild(env: Record<string, string>): Promise<ChildProcess> {
  const child = spawn(process.execPath, [main], {
    env: {
      PATH: process.env.PATH ?? "",
      DROVER_OUTPUT_HOST: "127.0.0.1",
      DROVER_OUTPUT_TOKEN_SECRET: TOKEN_SECRET,
      DROVER_OUTPUT_READ_TOKEN: READ_TOKEN,
      DROVER_PUSHER_APP_KEY: APP_KEY,
      DROVER_PUSHER_APP_SECRET: APP_SECRET,
      DROVER_LOG_LEVEL: "warn",
      ...env,
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    let out = "";
    child.stdout?.on("data", (d: Buffer) => {
      out += d.toString();
      if (out.includes("listening")) resolve();
    });
    child.once("exit", (code) => reject(new Error(`output-processor exited with ${code}`)));
  });
  return child;
}

/** Peak resident set size of a live process, in bytes (Linux `VmHWM`). */
export async function peakRss(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  const m = /VmHWM:\s+(\d+) kB/.exec(status);
  if (!m) throw new Error("no VmHWM in /proc status");
  return Number(m[1]) * 1024;
}

export function kill9(child: ChildProcess): Promise<void> {
  return new Promise((resolve) => {
    child.once("exit", () => resolve());
    child.kill("SIGKILL");
  });
}
