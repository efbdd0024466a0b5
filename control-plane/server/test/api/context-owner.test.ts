/** Contexts owned by CircleCI's `account` owner type as well as `organization`. */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ContextSecretsProvider,
  EmbeddedSecretStore,
  InstantScheduler,
  generateMasterKey,
  registerSecretsRoutes,
  type ControlPlane,
} from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import { openDatabase } from "@drover/control-plane/db";
import { CONFIG, http, makeRepo, startTestServer } from "../helpers/server.js";

describe("POST /api/v2/context owner types", () => {
  let db: Database;
  let cp: ControlPlane;
  let token: string;
  const org = `owner-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    db = await openDatabase({});
    const store = await EmbeddedSecretStore.open({
      db,
      masterKey: Buffer.from(generateMasterKey(), "base64"),
      keyName: "drover",
    });
    const started = await startTestServer(db, new InstantScheduler(), {
      secrets: new ContextSecretsProvider({ db, store }),
      routes: [(app, deps) => registerSecretsRoutes(app, { db: deps.db, store })],
    });
    cp = started.cp;
    token = cp.bootstrapToken ?? "";
    const repo = makeRepo({ ".circleci/config.yml": CONFIG });
    await started.admin.addProject({ slug: `gh/${org}/app`, repository_url: repo.url });
  });
  afterAll(async () => {
    await cp?.close();
    await db?.close();
  });

  const create = (name: string, type: string) =>
    http(cp.url, "POST", "/api/v2/context", {
      bearer: token,
      body: { name, owner: { slug: `gh/${org}`, type } },
    });

  it("creates contexts for `organization` and `account` owners", async () => {
    for (const [name, type] of [
      ["by-org", "organization"],
      ["by-account", "account"],
    ] as const) {
      const res = await create(name, type);
      expect(res.status, type).toBeLessThan(300);
      expect((res.body as { name: string }).name).toBe(name);
    }
  });

  it("refuses another owner type with CircleCI's message and Drover's code", async () => {
    const res = await create("by-team", "team");
    expect(res.status).toBe(400);
    const body = res.body as { message: string; code: string };
    expect(body.message).toContain("owner.type");
    expect(body.code).toBe("DROVER_ERR_CONTEXTS_INVALID");
  });
});
