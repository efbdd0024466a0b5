import { randomUUID } from "node:crypto";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  InstantScheduler,
  SecretsError,
  createProject,
  createSecretsModule,
  generateMasterKey,
  serverConfigSchema,
  startControlPlane,
  type ControlPlane,
} from "@drover/control-plane";
import { openDatabase, type Database } from "@drover/control-plane/db";

let db: Database;
let cp: ControlPlane;
const masterKey = generateMasterKey();

beforeAll(async () => {
  db = await openDatabase({});
  const mod = await createSecretsModule({ db, env: { DROVER_MASTER_KEY: masterKey } });
  cp = await startControlPlane({
    config: serverConfigSchema.parse({
      port: 0,
      dataDir: mkdtempSync(join(tmpdir(), "drover-mod-")),
      tickIntervalMs: 0,
      scheduleTickMs: 0,
    }),
    logger: pino({ level: "silent" }),
    db,
    scheduler: new InstantScheduler(),
    secrets: mod.provider,
    routes: mod.routes,
  });
});
afterAll(async () => {
  await cp?.close();
  await db?.close();
});

describe("createSecretsModule", () => {
  it("wires the store, the routes and sessions into the control plane", async () => {
    const project = await createProject(db, {
      slug: `gh/mod-${randomUUID().slice(0, 8)}/app`,
      repositoryUrl: "file:///nonexistent",
    });
    const res = await fetch(`${cp.url}/api/v2/project/${project.slug}/envvar`, {
      method: "POST",
      headers: { "circle-token": cp.bootstrapToken!, "content-type": "application/json" },
      body: JSON.stringify({ name: "WIRED", value: "wired-value-1234" }),
    });
    expect(res.status).toBe(201);
    expect(await res.json()).toMatchObject({ name: "WIRED", value: "xxxx1234" });
    expect((await fetch(`${cp.url}/api/v2/auth/session`)).status).toBe(401);
  });

  it("fails closed when the master key does not open the existing keyring", async () => {
    const err = await createSecretsModule({
      db,
      env: { DROVER_MASTER_KEY: generateMasterKey() },
    }).then(
      () => undefined,
      (e: unknown) => e as SecretsError,
    );
    expect(err).toBeInstanceOf(SecretsError);
    expect(err?.code).toBe("DROVER_ERR_SECRETS_MASTER_KEY_WRONG");
  });
});
