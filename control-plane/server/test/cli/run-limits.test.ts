/**
 * The compiler's config limit and the API's body limit agree: any config the compiler accepts
 * can be sent by `drover run`, even one whose every character JSON doubles.
 */
import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { compile, MAX_CONFIG_BYTES } from "@drover/config-compiler";
import { API_BODY_LIMIT, LocalScheduler, type ControlPlane } from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";
import { runPipeline } from "@drover/cli";
import { logger } from "../helpers/harness.js";
import { http, makeRepo, startTestServer } from "../helpers/server.js";

const agent = fileURLToPath(new URL("../fixtures/fake-agent.mjs", import.meta.url));

const HEAD = `version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [{run: "true"}]}
workflows:
  main: {jobs: [build]}
`;

/** A config of exactly `bytes` bytes: HEAD, then comment lines of `"` (JSON doubles each). */
function configOf(bytes: number): string {
  const line = `# ${'"'.repeat(997)}\n`;
  let text = HEAD;
  while (text.length + line.length <= bytes) text += line;
  return text + `#${"\\".repeat(bytes - text.length - 2)}\n`;
}

describe("config size limits", () => {
  let db: Database;
  let cp: ControlPlane;
  let token: string;
  beforeAll(async () => {
    db = await openDatabase({});
    ({ cp } = await startTestServer(
      db,
      new LocalScheduler({
        logger,
        stateDir: join(mkdtempSync(join(tmpdir(), "drover-limits-agents-")), "agents"),
        agentCommand: [process.execPath, agent],
      }),
    ));
    token = cp.bootstrapToken!;
  });
  afterAll(async () => {
    await cp.close();
    await db.close();
  });

  it("compiles a config of exactly the limit and refuses one byte more", () => {
    const pipeline = {
      id: randomUUID(),
      number: 1,
      projectSlug: "gh/a/b",
      gitUrl: "",
      revision: "",
      triggerSource: "api",
      parameters: {},
    };
    const atLimit = configOf(MAX_CONFIG_BYTES);
    expect(Buffer.byteLength(atLimit)).toBe(MAX_CONFIG_BYTES);
    expect(compile(atLimit, { pipeline }).errors).toEqual([]);
    expect(compile(`${atLimit}#`, { pipeline }).errors.map((e) => e.code)).toEqual([
      "DROVER_ERR_CONFIG_TOO_LARGE",
    ]);
  });

  it("drover run sends and builds a config of the compiler's limit", async () => {
    const config = configOf(MAX_CONFIG_BYTES);
    expect(JSON.stringify({ config }).length).toBeGreaterThan(1.99 * MAX_CONFIG_BYTES);
    const repo = makeRepo({ ".circleci/config.yml": config });
    const lines: string[] = [];
    const code = await runPipeline({
      dir: repo.dir,
      settings: { url: cp.url, token },
      project: `local/t/${randomUUID().slice(0, 8)}`,
      live: false,
      write: (l) => lines.push(l),
    });
    expect(code, lines.join("\n")).toBe(0);
    expect(lines.at(-1)).toBe("workflow main: success");
  });

  it("answers a config over the limit with 400 naming the field, a body over the limit with 413", async () => {
    const repo = makeRepo({ ".circleci/config.yml": HEAD });
    const slug = `gh/limits/${randomUUID().slice(0, 8)}`;
    expect(
      (
        await http(cp.url, "POST", "/api/v2/project", {
          token,
          body: { slug, repository_url: repo.url },
        })
      ).status,
    ).toBe(201);
    const over = await http(cp.url, "POST", `/api/v2/project/${slug}/pipeline`, {
      token,
      body: { revision: repo.head, config: `${configOf(MAX_CONFIG_BYTES)}#` },
    });
    expect(over.status).toBe(400);
    expect(over.body.errors).toEqual([
      { field: "config", message: expect.stringContaining(`at most ${MAX_CONFIG_BYTES} bytes`) },
    ]);
    const huge = await http(cp.url, "POST", `/api/v2/project/${slug}/pipeline`, {
      token,
      raw: JSON.stringify({ config: "x".repeat(API_BODY_LIMIT) }),
    });
    expect(huge.status).toBe(413);
    expect(huge.body.message).toContain(`limit of ${API_BODY_LIMIT} bytes`);
  });
});
