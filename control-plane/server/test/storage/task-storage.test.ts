import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import Fastify, { type FastifyInstance } from "fastify";
import { request } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Database } from "@drover/control-plane/db";
import { TaskApiClient } from "@drover/task-api";
import { DiskBlobStore, TaskStorage, type TaskScope } from "../../src/storage/index.js";
import { registerTaskStorageRoutes } from "../../src/api/routes/task-storage.js";
import { testDatabases } from "../helpers/databases.js";

async function text(r: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of r) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

for (const target of await testDatabases()) {
  describe(`task storage on ${target.name}`, () => {
    let db: Database;
    let dir: string;
    let app: FastifyInstance;
    let url: string;
    const sessions = new Map<string, TaskScope & { session: string }>();
    const jobs = new Map<string, string>();
    const project = `gh/acme/${randomUUID().slice(0, 8)}`;
    const workflowId = randomUUID();

    beforeAll(async () => {
      db = await target.open();
      dir = await mkdtemp(path.join(os.tmpdir(), "drover-blobs-"));
      app = Fastify({ forceCloseConnections: true });
      const storage = new TaskStorage({
        db,
        blobs: new DiskBlobStore(dir),
        maxUploadBytes: 1024 * 1024,
      });
      registerTaskStorageRoutes(app, {
        storage,
        authenticateTask: async (taskId, session) => {
          const s = sessions.get(taskId);
          return s && s.session === session ? s : null;
        },
        findJob: async (_req, slug, number) => {
          const id = jobs.get(`${slug}#${number}`);
          return id ? { jobId: id } : null;
        },
        baseUrl: "http://drover.test",
      });
      url = await app.listen({ port: 0, host: "127.0.0.1" });
    });
    const clients: TaskApiClient[] = [];
    afterAll(async () => {
      await Promise.all(clients.map((c) => c.close()));
      await app.close();
      await db.close();
      await rm(dir, { recursive: true, force: true });
    });

    function client(jobNumber: number, nodeIndex = 0): { api: TaskApiClient; scope: TaskScope } {
      const taskId = randomUUID();
      const jobId = jobs.get(`${project}#${jobNumber}`) ?? randomUUID();
      jobs.set(`${project}#${jobNumber}`, jobId);
      const scope = {
        taskId,
        jobId,
        workflowId,
        projectSlug: project,
        nodeIndex,
        session: randomUUID(),
      };
      sessions.set(taskId, scope);
      const api = new TaskApiClient({ url, retries: 1 });
      api.useSession(taskId, scope.session);
      clients.push(api);
      return { api, scope };
    }

    it("refuses a wrong session", async () => {
      const { api, scope } = client(1);
      api.useSession(scope.taskId, "wrong");
      await expect(api.listWorkspaceLayers()).rejects.toMatchObject({
        status: 401,
        code: "DROVER_ERR_TASK_SESSION",
      });
    });

    it("stores caches under immutable keys and finds the most recent prefix match", async () => {
      const { api } = client(2);
      expect(await api.putCache("deps-v1-aaa", Buffer.from("first"))).toBe(true);
      expect(await api.putCache("deps-v1-aaa", Buffer.from("again"))).toBe(false);
      expect(
        await api.putCache("deps-v1-bbb", Readable.from([Buffer.from("sec"), Buffer.from("ond")])),
      ).toBe(true);
      expect(await api.putCache("a/b c", Buffer.from("slash"))).toBe(true);
      expect(await api.findCache(["nothing-", "deps-v1-"])).toBe("deps-v1-bbb");
      expect(await api.findCache(["deps-v1-a"])).toBe("deps-v1-aaa");
      expect(await api.findCache(["zzz"])).toBeUndefined();
      expect(await text(await api.getCache("deps-v1-aaa"))).toBe("first");
      expect(await text(await api.getCache("a/b c"))).toBe("slash");
      // Another project sees none of them.
      const other = client(3);
      sessions.set(other.scope.taskId, {
        ...other.scope,
        projectSlug: "gh/acme/other",
        session: sessions.get(other.scope.taskId)?.session ?? "",
      });
      expect(await other.api.findCache(["deps-"])).toBeUndefined();
    });

    it("refuses an upload over the size limit and keeps nothing", async () => {
      const { api } = client(4);
      await expect(api.putCache("big", Buffer.alloc(2 * 1024 * 1024))).rejects.toMatchObject({
        status: 413,
      });
      expect(await api.findCache(["big"])).toBeUndefined();
    });

    it("lists workspace layers of the other jobs of the workflow in upload order", async () => {
      const a = client(5);
      const b = client(6);
      await a.api.putWorkspaceLayer(Buffer.from("layer-a"));
      await b.api.putWorkspaceLayer(Buffer.from("layer-b"));
      const c = client(7);
      const layers = await c.api.listWorkspaceLayers();
      expect(layers).toHaveLength(2);
      expect(await text(await c.api.getWorkspaceLayer(layers[0]?.id ?? ""))).toBe("layer-a");
      expect(await text(await c.api.getWorkspaceLayer(layers[1]?.id ?? ""))).toBe("layer-b");
      expect(await a.api.listWorkspaceLayers()).toHaveLength(1);
    });

    it("serves artifacts and tests on the user-facing API", async () => {
      const n0 = client(8, 0);
      const n1 = client(8, 1);
      await n0.api.putArtifact("reports/a.txt", Buffer.from("A"));
      await n1.api.putArtifact("reports/b.txt", Readable.from([Buffer.from("B")]));
      await expect(n0.api.putArtifact("../escape", Buffer.from("x"))).rejects.toMatchObject({
        status: 400,
      });
      await n0.api.sendTests([
        { classname: "c", name: "t1", result: "success", runTimeSeconds: 0.1, source: "junit.xml" },
        {
          classname: "c",
          name: "t2",
          result: "failure",
          message: "boom",
          file: "t.sh",
          runTimeSeconds: 0.2,
          source: "junit.xml",
        },
      ]);
      const list = await request(`${url}/api/v2/project/${project}/8/artifacts`);
      const body = (await list.body.json()) as {
        items: Array<{ path: string; node_index: number; url: string }>;
      };
      expect(body.items.map((i) => [i.path, i.node_index])).toEqual([
        ["reports/a.txt", 0],
        ["reports/b.txt", 1],
      ]);
      expect(body.items[0]?.url).toBe(
        `http://drover.test/api/v2/project/${project}/8/artifacts/0/reports/a.txt`,
      );
      const dl = await request(`${url}/api/v2/project/${project}/8/artifacts/1/reports/b.txt`);
      expect(await dl.body.text()).toBe("B");
      const tests = await request(`${url}/api/v2/project/${project}/8/tests`);
      expect(await tests.body.json()).toEqual({
        items: [
          {
            message: "",
            source: "junit.xml",
            run_time: 0.1,
            file: "",
            result: "success",
            name: "t1",
            classname: "c",
          },
          {
            message: "boom",
            source: "junit.xml",
            run_time: 0.2,
            file: "t.sh",
            result: "failure",
            name: "t2",
            classname: "c",
          },
        ],
        next_page_token: null,
      });
      const missing = await request(`${url}/api/v2/project/${project}/999/tests`);
      expect(missing.statusCode).toBe(404);
      await missing.body.dump();
    });
  });
}

for (const target of await testDatabases()) {
  describe(`upload retention on ${target.name}`, () => {
    it("deletes caches, artifacts and workspace layers past their days, rows and blobs", async () => {
      const db = await target.open();
      const dir = await mkdtemp(path.join(os.tmpdir(), "drover-retention-"));
      try {
        const blobs = new DiskBlobStore(dir);
        const storage = new TaskStorage({ db, blobs });
        const scope: TaskScope = {
          taskId: randomUUID(),
          jobId: randomUUID(),
          workflowId: randomUUID(),
          projectSlug: `gh/acme/${randomUUID().slice(0, 8)}`,
        };
        const put = () => Readable.from([Buffer.from("bytes")]);
        await storage.putCache(scope, "old-cache", put());
        await storage.putCache(scope, "new-cache", put());
        await storage.putArtifact(scope, "old.txt", put());
        await storage.putArtifact(scope, "new.txt", put());
        const oldLayer = await storage.putWorkspaceLayer(scope, put());
        const newLayer = await storage.putWorkspaceLayer(scope, put());
        const keyOf = async (table: string, where: string, v: string) =>
          (
            await db.query<{ blob_key: string }>(
              `SELECT blob_key FROM ${table} WHERE ${where} = $1`,
              [v],
            )
          ).rows[0]?.blob_key;
        const oldKeys = [
          await keyOf("task_caches", "key", "old-cache"),
          await keyOf("task_artifacts", "path", "old.txt"),
          await keyOf("task_workspace_layers", "id", oldLayer),
        ] as string[];
        // Twenty days old: past the caches' and workspaces' 15 days, within the artifacts' 30.
        const ago = new Date(Date.now() - 20 * 86_400_000).toISOString();
        await db.query(`UPDATE task_caches SET created_at = $1 WHERE key = 'old-cache'`, [ago]);
        await db.query(`UPDATE task_artifacts SET created_at = $1 WHERE path = 'old.txt'`, [ago]);
        await db.query(`UPDATE task_workspace_layers SET created_at = $1 WHERE id = $2`, [
          ago,
          oldLayer,
        ]);
        const first = await storage.expire();
        expect(first).toMatchObject({ caches: 1, artifacts: 0, workspaces: 1 });
        expect(await storage.findCache(scope.projectSlug, ["old-cache"])).toBeUndefined();
        expect(await storage.findCache(scope.projectSlug, ["new-cache"])).toBe("new-cache");
        expect(await keyOf("task_workspace_layers", "id", oldLayer)).toBeUndefined();
        expect(await blobs.exists(oldKeys[0] as string)).toBe(false);
        expect(await blobs.exists(oldKeys[2] as string)).toBe(false);
        expect(await blobs.exists(oldKeys[1] as string)).toBe(true);
        // Ten days later the artifact is past 30 days too; a shorter cache setting takes the rest.
        const later = new Date(Date.now() + 11 * 86_400_000);
        const second = await storage.expire({ caches: 100, artifacts: 30, workspaces: 100 }, later);
        expect(second).toEqual({ caches: 0, artifacts: 1, workspaces: 0 });
        expect(await blobs.exists(oldKeys[1] as string)).toBe(false);
        expect((await storage.listArtifacts(scope.jobId)).map((a) => a.path)).toEqual(["new.txt"]);
        expect(await keyOf("task_workspace_layers", "id", newLayer)).toBeDefined();
      } finally {
        await db.close();
        await rm(dir, { recursive: true, force: true });
      }
    });
  });
}
