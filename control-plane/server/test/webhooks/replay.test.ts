/**
 * A signed webhook delivery makes one pipeline however often it arrives: replays (same delivery
 * id, or the same signed body under a new id) answer 200 with the original pipeline, after a
 * control-plane restart and across two control planes on one database receiving it at once.
 */
import { createHmac, randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { compile } from "@drover/config-compiler";
import {
  InstantScheduler,
  serverConfigSchema,
  startControlPlane,
  type CompileFn,
  type ControlPlane,
} from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";
import { POSTGRES_URL, testDatabases } from "../helpers/databases.js";
import { logger } from "../helpers/harness.js";
import { CONFIG, commitFiles, http, makeRepo } from "../helpers/server.js";

const dbs = await testDatabases();

const sign = (body: string, secret: string) =>
  `sha256=${createHmac("sha256", secret).update(body).digest("hex")}`;

/** Two handles on one database, as two control-plane processes would have. */
async function openShared(name: "pglite" | "postgres"): Promise<[Database, Database]> {
  if (name === "pglite") {
    const db = await openDatabase({});
    return [db, db];
  }
  const schema = `t_${randomUUID().replaceAll("-", "")}`;
  const first = await openDatabase({ url: POSTGRES_URL, schema });
  return [first, await openDatabase({ url: POSTGRES_URL, schema })];
}

describe.each(dbs)("webhook replays ($name)", ({ name: dbName }) => {
  let dbs: [Database, Database];
  const planes: ControlPlane[] = [];
  const repo = makeRepo({ ".circleci/config.yml": CONFIG });
  const repoName = `repo-${randomUUID().slice(0, 8)}`;
  let admin = "";
  let ghSecret = "";
  let glSecret = "";
  /** Compiles once `gate` opens (held by the concurrency test). */
  let gate: Promise<void> = Promise.resolve();
  let compiling = 0;
  const gatedCompile: CompileFn = async (source, options) => {
    compiling++;
    await gate;
    return compile(source, options);
  };

  const start = (db: Database) =>
    startControlPlane({
      config: serverConfigSchema.parse({
        port: 0,
        dataDir: mkdtempSync(join(tmpdir(), "drover-cp-")),
        tickIntervalMs: 0,
        scheduleTickMs: 0,
      }),
      logger,
      db,
      scheduler: new InstantScheduler(),
      compile: gatedCompile,
    }).then((cp) => {
      planes.push(cp);
      return cp;
    });

  const pipelinesAt = async (revision: string) =>
    Number(
      (
        await dbs[0].query<{ n: string }>(
          "SELECT count(*) AS n FROM pipelines WHERE vcs->>'revision' = $1",
          [revision],
        )
      ).rows[0]!.n,
    );

  const githubPush = (head: string) =>
    JSON.stringify({
      ref: "refs/heads/main",
      after: head,
      repository: { full_name: `acme/${repoName}` },
    });
  const sendGithub = (cp: ControlPlane, body: string, delivery: string) =>
    http(cp.url, "POST", "/hooks/github", {
      raw: body,
      headers: {
        "x-github-event": "push",
        "x-github-delivery": delivery,
        "x-hub-signature-256": sign(body, ghSecret),
      },
    });

  beforeAll(async () => {
    dbs = await openShared(dbName);
    const cp = await start(dbs[0]);
    admin = cp.bootstrapToken ?? "";
    const add = async (slug: string) => {
      const r = await http(cp.url, "POST", "/api/v2/project", {
        token: admin,
        body: { slug, repository_url: repo.url },
      });
      expect(r.status).toBe(201);
      return r.body.webhook_secret as string;
    };
    ghSecret = await add(`gh/acme/${repoName}`);
    glSecret = await add(`gl/group/${repoName}`);
  });
  afterAll(async () => {
    for (const cp of planes) await cp.close();
    await dbs[0].close();
    if (dbs[1] !== dbs[0]) await dbs[1].close();
  });

  it("answers a replayed GitHub delivery with its pipeline, even under a new delivery id", async () => {
    const cp = planes[0]!;
    const head = commitFiles(repo.dir, { "a.txt": randomUUID() }, "one push");
    const body = githubPush(head);
    const delivery = randomUUID();
    const first = await sendGithub(cp, body, delivery);
    expect(first.status).toBe(201);
    const again = await sendGithub(cp, body, delivery);
    expect(again.status).toBe(200);
    expect(again.body).toEqual(first.body);
    // The id header is not signed: a replay under a made-up id is the same signed body.
    const renamed = await sendGithub(cp, body, randomUUID());
    expect(renamed.status).toBe(200);
    expect(renamed.body.id).toBe(first.body.id);
    expect(await pipelinesAt(head)).toBe(1);

    // A new push is a new pipeline.
    const next = commitFiles(repo.dir, { "a.txt": randomUUID() }, "another push");
    const other = await sendGithub(cp, githubPush(next), randomUUID());
    expect(other.status).toBe(201);
    expect(other.body.id).not.toBe(first.body.id);
  });

  it("answers a replayed GitLab delivery (same X-Gitlab-Event-UUID) with its pipeline", async () => {
    const cp = planes[0]!;
    const head = commitFiles(repo.dir, { "b.txt": randomUUID() }, "gitlab push");
    const uuid = randomUUID();
    const send = (body: string) =>
      http(cp.url, "POST", "/hooks/gitlab", {
        raw: body,
        headers: {
          "x-gitlab-event": "Push Hook",
          "x-gitlab-event-uuid": uuid,
          "x-gitlab-token": glSecret,
        },
      });
    const body = JSON.stringify({
      ref: "refs/heads/main",
      checkout_sha: head,
      project: { path_with_namespace: `group/${repoName}` },
    });
    const first = await send(body);
    expect(first.status).toBe(201);
    // GitLab does not sign the body: the same event id with other bytes is still the replay.
    const again = await send(body.replace("{", '{ "extra": 1, '));
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(await pipelinesAt(head)).toBe(1);
  });

  it("still knows a delivery after the control plane restarts", async () => {
    const head = commitFiles(repo.dir, { "c.txt": randomUUID() }, "before restart");
    const body = githubPush(head);
    const delivery = randomUUID();
    const first = await sendGithub(planes[0]!, body, delivery);
    expect(first.status).toBe(201);
    await planes[0]!.close();
    planes.shift();
    const restarted = await start(dbs[0]);
    const again = await sendGithub(restarted, body, delivery);
    expect(again.status).toBe(200);
    expect(again.body.id).toBe(first.body.id);
    expect(await pipelinesAt(head)).toBe(1);
  });

  it("makes one pipeline when two control planes get the same delivery at once", async () => {
    const one = planes[0]!;
    const two = await start(dbs[1]);
    const head = commitFiles(repo.dir, { "d.txt": randomUUID() }, "raced");
    const body = githubPush(head);
    const delivery = randomUUID();
    // Both requests pass the replay check before either stores its pipeline.
    let open!: () => void;
    gate = new Promise((resolve) => (open = resolve));
    compiling = 0;
    const both = Promise.all([sendGithub(one, body, delivery), sendGithub(two, body, delivery)]);
    try {
      await vi.waitFor(() => expect(compiling).toBe(2), { timeout: 60_000, interval: 20 });
    } finally {
      open();
    }
    const [a, b] = await both;
    expect([a.status, b.status].sort()).toEqual([200, 201]);
    expect(a.body.id).toBe(b.body.id);
    expect(await pipelinesAt(head)).toBe(1);
  });
});
