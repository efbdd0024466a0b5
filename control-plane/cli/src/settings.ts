import { existsSync, readFileSync } from "node:fs";
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";

/** Where the CLI finds the server: `DROVER_URL`/`DROVER_TOKEN`, else `.drover/cli.json` written by `drover up`. */
export interface CliSettings {
  url: string;
  token: string;
  /** The output-processor (`DROVER_OUTPUT_URL`); else asked from the server's `/healthz`. */
  outputUrl?: string;
  /** vm-service of `drover up` and its service token (`drover vm`). */
  vmUrl?: string;
  vmToken?: string;
  /** PEM file of the CA the server is verified against (`DROVER_TLS_CA`; `drover up --tls` saves its own). */
  tlsCa?: string;
}

/** Reads `.drover/cli.json` above `from`, if any (`{}` when there is none). */
export function storedCliSettings(from: string): Partial<CliSettings> {
  const file = findCliFile(from);
  if (!file) return {};
  try {
    return JSON.parse(readFileSync(file, "utf8")) as Partial<CliSettings>;
  } catch (err) {
    throw new CliSettingsError(`cannot read ${file}: ${String(err)}`, { cause: err });
  }
}

/** No server configured, or `cli.json` unreadable: a sentence for the user, exit code 1. */
export class CliSettingsError extends Error {
  readonly code = "DROVER_ERR_CLI_SETTINGS";
  constructor(message: string, options?: { cause: unknown }) {
    super(message, options);
    this.name = "CliSettingsError";
  }
}

/** Looks for `.drover/cli.json` in `from` and its parents. */
export function findCliFile(from: string): string | null {
  let dir = resolve(from);
  for (;;) {
    const file = join(dir, ".drover", "cli.json");
    if (existsSync(file)) return file;
    const up = dirname(dir);
    if (up === dir) return null;
    dir = up;
  }
}

export function loadCliSettings(env: NodeJS.ProcessEnv, from: string): CliSettings {
  const stored = storedCliSettings(from);
  const url = env.DROVER_URL || stored.url;
  const token = env.DROVER_TOKEN || stored.token;
  if (!url || !token) {
    throw new CliSettingsError(
      "no Drover server configured: set DROVER_URL and DROVER_TOKEN, or run `drover up` here first",
    );
  }
  const outputUrl = env.DROVER_OUTPUT_URL || (env.DROVER_URL ? undefined : stored.outputUrl);
  const tlsCa = env.DROVER_TLS_CA || (env.DROVER_URL ? undefined : stored.tlsCa);
  return { url, token, ...(outputUrl ? { outputUrl } : {}), ...(tlsCa ? { tlsCa } : {}) };
}

/** Writes `cli.json` (mode 0600: it holds a token). */
export async function saveCliSettings(file: string, settings: Partial<CliSettings>): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  let current: Partial<CliSettings> = {};
  try {
    current = JSON.parse(readFileSync(file, "utf8")) as Partial<CliSettings>;
  } catch {
    // first write
  }
  await writeFile(file, `${JSON.stringify({ ...current, ...settings }, null, 2)}\n`, {
    mode: 0o600,
  });
  await chmod(file, 0o600);
}
