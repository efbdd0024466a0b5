/** `GET /api/v2/me/collaborations`: the organizations of the projects a user can see. */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InstantScheduler, type ControlPlane } from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import { openDatabase } from "@drover/control-plane/db";
import { CONFIG, http, makeRepo, startTestServer } from "../helpers/server.js";

describe("GET /api/v2/me/collaborations", () => {
  let db: Database;
  let cp: ControlPlane;
  let member: string;
  const orgA = `collab-a-${randomUUID().slice(0, 8)}`;
  const orgB = `collab-b-${randomUUID().slice(0, 8)}`;

  beforeAll(async () => {
    db = await openDatabase({});
    const started = await startTestServer(db, new InstantScheduler());
    cp = started.cp;
    const repo = makeRepo({ ".circleci/config.yml": CONFIG });
    await started.admin.addProject({ slug: `gh/${orgA}/one`, repository_url: repo.url });
    await started.admin.addProject({ slug: `gh/${orgA}/two`, repository_url: repo.url });
    await started.admin.addProject({ slug: `gh/${orgB}/three`, repository_url: repo.url });
    member = (
      await started.admin.createToken({
        login: `collab-${randomUUID().slice(0, 8)}`,
        projects: [`gh/${orgA}/one`, `gh/${orgA}/two`],
      })
    ).token;
  });
  afterAll(async () => {
    await cp?.close();
    await db?.close();
  });

  it("lists each organization of the member's projects once, in CircleCI's shape", async () => {
    const res = await http(cp.url, "GET", "/api/v2/me/collaborations", { bearer: member });
    expect(res.status).toBe(200);
    const items = res.body as Array<Record<string, string>>;
    expect(items).toHaveLength(1);
    expect(items[0]).toMatchObject({ "vcs-type": "github", name: orgA, slug: `gh/${orgA}` });
    expect(typeof items[0]!.id).toBe("string");
  });

  it("lists every organization for an admin, and refuses a caller without a token", async () => {
    const res = await http(cp.url, "GET", "/api/v2/me/collaborations", {
      bearer: cp.bootstrapToken ?? "",
    });
    const names = (res.body as Array<{ name: string }>).map((o) => o.name);
    expect(names).toEqual(expect.arrayContaining([orgA, orgB]));
    const anon = await fetch(new URL("/api/v2/me/collaborations", cp.url));
    expect(anon.status).toBe(401);
  });
});
