import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  ConfigError,
  envSchema,
  loadConfig,
  secretStoreConfigFromEnv,
  serverConfigFromEnv,
  serverConfigSchema,
  type EnvName,
} from "@drover/control-plane";

const SERVER = fileURLToPath(new URL("../../", import.meta.url));

/** The error `loadConfig(env)` throws. */
function failure(env: Record<string, string>): ConfigError {
  try {
    loadConfig(env);
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error(`expected ${JSON.stringify(env)} to be refused`);
}

describe("configuration from the environment", () => {
  it("has defaults for an empty environment", () => {
    const config = loadConfig({});
    expect(config.server).toMatchObject({
      host: "127.0.0.1",
      port: 8080,
      dataDir: ".drover",
      outputHost: "127.0.0.1",
      tickIntervalMs: 2000,
      scheduleTickMs: 15_000,
      cacheRetentionDays: 15,
      artifactRetentionDays: 30,
      workspaceRetentionDays: 15,
      retentionSweepMs: 3_600_000,
    });
    expect(config.secretStore).toEqual({
      kind: "embedded",
      keyName: "drover",
      masterKeyFile: join(resolve(".drover"), "master.key"),
      createMasterKeyFile: true,
    });
    expect(config.nomad).toBeNull();
    expect(config.logLevel).toBe("info");
    // The options schema of the composition root has the environment's defaults.
    expect(serverConfigSchema.parse({})).toEqual(config.server);
  });

  it("reads typed values, lists, commands and booleans; an empty variable is unset", () => {
    const dataDir = mkdtempSync(join(tmpdir(), "drover-config-"));
    const config = loadConfig({
      DROVER_PORT: "0",
      DROVER_DATA_DIR: dataDir,
      DROVER_HOST: "",
      DATABASE_URL: "postgresql://u@db:5432/drover",
      REDIS_URL: "rediss://cache:6380",
      DROVER_AGENT_COMMAND: "node /opt/agent.js --verbose",
      DROVER_CACHE_RETENTION_DAYS: "1.5",
      DROVER_LOG_LEVEL: "debug",
      VAULT_ADDR: "https://vault:8200",
      DROVER_VAULT_ROLE_ID: "role",
      DROVER_VAULT_SECRET_ID: "secret",
      VAULT_SKIP_VERIFY: "1",
      NOMAD_ADDR: "https://nomad:4646",
      DROVER_NOMAD_DATACENTERS: "dc1, dc2",
      DROVER_NOMAD_NODE_CLASS: "any",
      DROVER_NOMAD_PRIORITY: "70",
      DROVER_NOMAD_DRIVER: "raw_exec",
      DROVER_NOMAD_RAW_EXEC_COMMAND: "/usr/local/bin/drover-agent",
      DROVER_NOMAD_RAW_EXEC_ARGS: "run,--quiet",
    });
    expect(config.server).toMatchObject({
      port: 0,
      host: "127.0.0.1",
      dataDir,
      databaseUrl: "postgresql://u@db:5432/drover",
      redisUrl: "rediss://cache:6380",
      agentCommand: ["node", "/opt/agent.js", "--verbose"],
      cacheRetentionDays: 1.5,
    });
    expect(config.logLevel).toBe("debug");
    expect(config.secretStore).toMatchObject({
      kind: "vault",
      addr: "https://vault:8200",
      roleId: "role",
      secretId: "secret",
      appRoleMount: "approle",
      mount: "transit",
      skipVerify: true,
    });
    expect(config.nomad?.client).toMatchObject({ address: "https://nomad:4646" });
    expect(config.nomad?.jobSpec).toMatchObject({
      datacenters: ["dc1", "dc2"],
      nodeClass: null,
      priority: 70,
      driver: "raw_exec",
      rawExec: { command: "/usr/local/bin/drover-agent", args: ["run", "--quiet"] },
    });
    expect(config.nomad?.uiAddress).toBe("https://nomad:4646");
    expect(
      serverConfigFromEnv({ DROVER_AGENT_COMMAND: '["node", "agent.js"]' }).agentCommand,
    ).toEqual(["node", "agent.js"]);
    expect(
      secretStoreConfigFromEnv({ DROVER_MASTER_KEY_FILE: "/etc/drover/key" }, { dataDir }),
    ).toMatchObject({ masterKeyFile: "/etc/drover/key", createMasterKeyFile: false });
  });

  // Each invalid variable is named in the error (the five retention and token keys once were not).
  const invalid: Array<[EnvName, string]> = [
    ["DROVER_PORT", "http"],
    ["DROVER_PORT", "70000"],
    ["DATABASE_URL", "mysql://db/drover"],
    ["DROVER_PUBLIC_URL", "ci.example.com"],
    ["DROVER_INTERNAL_URL", "::"],
    ["DROVER_LOG_LEVEL", "loud"],
    ["DROVER_OUTPUT_URL", "nope"],
    ["DROVER_OUTPUT_PORT", "-1"],
    ["REDIS_URL", "http://cache:6379"],
    ["DROVER_OUTPUT_TOKEN_SECRET", "short"],
    ["DROVER_OUTPUT_READ_TOKEN", "short"],
    ["DROVER_PUSHER_APP_SECRET", "short"],
    ["DROVER_AGENT_COMMAND", "[1, 2]"],
    ["DROVER_TICK_MS", "-1"],
    ["DROVER_SCHEDULE_TICK_MS", "soon"],
    ["DROVER_CACHE_RETENTION_DAYS", "0"],
    ["DROVER_ARTIFACT_RETENTION_DAYS", "-3"],
    ["DROVER_WORKSPACE_RETENTION_DAYS", "forever"],
    ["DROVER_RETENTION_SWEEP_MS", "-5"],
    ["DROVER_SECRET_STORE", "kms"],
    ["DROVER_SECRET_KEY_NAME", "no spaces"],
    ["VAULT_ADDR", "vault"],
    ["DROVER_VAULT_TRANSIT_KEY", "a/b"],
    ["VAULT_SKIP_VERIFY", "maybe"],
    ["NOMAD_ADDR", "ftp://nomad"],
    ["DROVER_NOMAD_UI_ADDR", "ui"],
    ["DROVER_NOMAD_PRIORITY", "0"],
    ["DROVER_NOMAD_DRIVER", "exec"],
    ["DROVER_NOMAD_MHZ_PER_CPU", "0"],
    ["DROVER_NOMAD_DATACENTERS", ","],
  ];
  it.each(invalid)("refuses %s=%s with an error naming it", (name, value) => {
    const err = failure({ [name]: value });
    expect(err.code).toBe("DROVER_ERR_ENV_INVALID");
    expect(err.statusCode).toBe(500);
    expect(err.fields.map((f) => f.field)).toEqual([name]);
    expect(err.message).toMatch(new RegExp(`^invalid configuration: ${name}: \\S`));
  });

  it("checks variables that go together, and reports every problem at once", () => {
    const err = failure({
      DROVER_PORT: "x",
      DROVER_SECRET_STORE: "vault",
      NOMAD_ADDR: "http://nomad:4646",
      NOMAD_CACERT: "/ca.pem",
      NOMAD_CLIENT_CERT: "/c.pem",
      DROVER_NOMAD_DRIVER: "raw_exec",
    });
    expect(err.fields.map((f) => f.field)).toEqual(["DROVER_PORT"]);
    const together = failure({
      DROVER_SECRET_STORE: "vault",
      NOMAD_ADDR: "http://nomad:4646",
      NOMAD_CACERT: "/ca.pem",
      NOMAD_CLIENT_CERT: "/c.pem",
      DROVER_NOMAD_DRIVER: "raw_exec",
    });
    expect(together.fields.map((f) => f.field).sort()).toEqual([
      "DROVER_NOMAD_RAW_EXEC_COMMAND",
      "NOMAD_ADDR",
      "NOMAD_CLIENT_KEY",
      "VAULT_ADDR",
    ]);
    expect(
      failure({ VAULT_ADDR: "https://vault:8200", VAULT_CLIENT_CERT: "/c.pem" })
        .fields.map((f) => f.field)
        .sort(),
    ).toEqual(["VAULT_CLIENT_CERT", "VAULT_TOKEN"]);
    expect(failure({ VAULT_ADDR: "https://vault:8200", DROVER_VAULT_ROLE_ID: "r" }).fields).toEqual(
      [{ field: "VAULT_TOKEN", message: expect.stringContaining("DROVER_VAULT_SECRET_ID") }],
    );
  });
});

describe("where configuration is read", () => {
  it("only config/ reads variables by name; process.env only goes to child processes", () => {
    const src = join(SERVER, "src");
    const files = (dir: string): string[] =>
      readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
        e.isDirectory()
          ? files(join(dir, e.name))
          : e.name.endsWith(".ts")
            ? [join(dir, e.name)]
            : [],
      );
    const childEnv = ["server/drover.ts", "scheduler/local/local.ts", "git/fetch.ts"];
    const found: string[] = [];
    for (const file of files(src)) {
      const rel = file.slice(src.length + 1);
      if (rel.startsWith("config/") || rel.startsWith("testing/")) continue;
      const code = readFileSync(file, "utf8").replace(/\/\/.*$|\/\*[\s\S]*?\*\//gm, "");
      if (/\benv(\.|\[["'`])[A-Z][A-Z0-9_]+/.test(code)) found.push(`${rel}: reads a variable`);
      if (/process\.env/.test(code) && !childEnv.includes(rel)) found.push(`${rel}: process.env`);
    }
    expect(found).toEqual([]);
  });
});

/** The README's variable table, as the schema says it should read. */
function envTable(): string {
  const cell = (s: string) => s.replaceAll("|", "\\|");
  const rows = Object.entries(envSchema.shape).map(([name, schema]) => {
    const parsed = schema.safeParse(undefined);
    const dflt = parsed.success && parsed.data !== undefined ? `\`${String(parsed.data)}\`` : "";
    return `| \`${name}\` | ${dflt} | ${cell(schema.description ?? "")} |`;
  });
  return ["| Variable | Default | Meaning |", "|---|---|---|", ...rows].join("\n");
}

describe("control-plane/server/README.md", () => {
  it("documents every variable as the schema does", () => {
    const readme = readFileSync(join(SERVER, "README.md"), "utf8");
    const m = /<!-- env-table:start[^>]*-->\n([\s\S]*?)\n<!-- env-table:end -->/.exec(readme);
    expect(
      m,
      "README.md needs the <!-- env-table:start --> ... <!-- env-table:end --> block",
    ).toBeTruthy();
    for (const [name, schema] of Object.entries(envSchema.shape)) {
      expect(schema.description, `${name} needs a one-line description`).toMatch(/^[^\n]{10,}$/);
    }
    expect(m?.[1]).toBe(envTable());
  });
});
