/** `drover run` on a directory that is not a checkout's top: its working tree is snapshotted. */
import { randomUUID } from "node:crypto";
import { existsSync, mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LocalScheduler, type ControlPlane } from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";
import { runPipeline } from "@drover/cli";
import { logger } from "../helpers/harness.js";
import { startTestServer } from "../helpers/server.js";

const agent = fileURLToPath(new URL("../fixtures/fake-agent.mjs", import.meta.url));

const CONFIG = `version: 2.1
jobs:
  build: {docker: [{image: x}], steps: [{run: {name: compile, command: "true"}}]}
workflows:
  main: {jobs: [build]}
`;

describe("drover run on a plain directory", () => {
  let db: Database;
  let cp: ControlPlane;
  beforeAll(async () => {
    db = await openDatabase({});
    ({ cp } = await startTestServer(
      db,
      new LocalScheduler({
        logger,
        stateDir: join(mkdtempSync(join(tmpdir(), "drover-snap-agents-")), "agents"),
        agentCommand: [process.execPath, agent],
      }),
    ));
  });
  afterAll(async () => {
    await cp.close();
    await db.close();
  });

  it("commits the working tree into the cache, not into the directory, and reuses an unchanged snapshot", async () => {
    const dir = mkdtempSync(join(tmpdir(), "drover-plain-"));
    mkdirSync(join(dir, ".circleci"));
    writeFileSync(join(dir, ".circleci", "config.yml"), CONFIG);
    writeFileSync(join(dir, "input.txt"), "hello\n");
    const cacheRoot = mkdtempSync(join(tmpdir(), "drover-snapshots-"));
    const slug = `local/t/${randomUUID().slice(0, 8)}`;
    const runOnce = async () => {
      const lines: string[] = [];
      const code = await runPipeline({
        dir,
        settings: { url: cp.url, token: cp.bootstrapToken! },
        project: slug,
        cacheRoot,
        live: false,
        write: (l) => lines.push(l),
      });
      return { code, text: lines.join("\n") };
    };
    const first = await runOnce();
    expect(first.code, first.text).toBe(0);
    expect(first.text).toMatch(/working tree of .* committed to /);
    expect(first.text).toContain("workflow main: success");
    expect(existsSync(join(dir, ".git"))).toBe(false);
    const rev = (t: string) => /at ([0-9a-f]{12})/.exec(t)?.[1];
    const second = await runOnce();
    expect(second.code).toBe(0);
    expect(rev(second.text)).toBe(rev(first.text));
    // A change in the working tree makes a new snapshot.
    writeFileSync(join(dir, "input.txt"), "changed\n");
    const third = await runOnce();
    expect(rev(third.text)).not.toBe(rev(first.text));
  });
});
