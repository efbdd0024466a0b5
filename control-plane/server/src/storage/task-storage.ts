import { randomUUID } from "node:crypto";
import type { Readable } from "node:stream";
import type { TestCase } from "@drover/task-api";
import type { Database } from "../db/types.js";
import type { BlobStore } from "./blob-store.js";
import { StorageError } from "./errors.js";

/** Who is uploading: resolved from a task session by the caller. */
export interface TaskScope {
  taskId: string;
  jobId: string;
  workflowId: string;
  projectSlug: string;
  /** Parallel node (default 0). */
  nodeIndex?: number;
  /**
   * Jobs whose workspace layers this task attaches (the workflow's upstream jobs, transitively).
   * Absent: every other job of the workflow, in upload order.
   */
  upstreamJobIds?: string[];
}

export interface ArtifactRecord {
  path: string;
  nodeIndex: number;
  size: number;
}

export interface TaskStorageOptions {
  db: Database;
  blobs: BlobStore;
  /** Largest single upload in bytes (default 5 GiB). */
  maxUploadBytes?: number;
}

/** Days each kind of upload is kept after it was stored (CircleCI Server's defaults). */
export interface RetentionDays {
  caches: number;
  artifacts: number;
  workspaces: number;
}

export const DEFAULT_RETENTION: RetentionDays = { caches: 15, artifacts: 30, workspaces: 15 };

const EXPIRING: Array<{ table: string; kind: keyof RetentionDays }> = [
  { table: "task_caches", kind: "caches" },
  { table: "task_artifacts", kind: "artifacts" },
  { table: "task_workspace_layers", kind: "workspaces" },
];

const SAFE_PATH = (p: string): string => {
  const clean = p.replace(/^\/+/, "");
  const segs = clean.split("/");
  if (
    !clean ||
    clean.length > 1024 ||
    segs.some((s) => !s || s === "." || s === "..") ||
    /[\\\0]/.test(clean)
  ) {
    throw new StorageError(
      "DROVER_ERR_STORAGE_INVALID",
      `invalid artifact path '${p}': use a relative path without '..'`,
    );
  }
  return clean;
};

/**
 * The index of what tasks stored: artifacts and tests per job node, caches per project (immutable
 * keys, prefix lookup with the most recent first), workspace layers per workflow. Bytes go to the
 * blob store first; a row appears only once its blob is complete.
 */
export class TaskStorage {
  private readonly db: Database;
  private readonly blobs: BlobStore;
  private readonly max: number;

  constructor(opts: TaskStorageOptions) {
    this.db = opts.db;
    this.blobs = opts.blobs;
    this.max = opts.maxUploadBytes ?? 5 * 1024 ** 3;
  }

  async putArtifact(scope: TaskScope, path: string, body: Readable): Promise<void> {
    const rel = SAFE_PATH(path);
    const node = scope.nodeIndex ?? 0;
    const blobKey = `artifacts/${scope.jobId}/${node}/${rel}`;
    const { size } = await this.blobs.put(blobKey, body, { maxBytes: this.max });
    await this.db.query(
      `INSERT INTO task_artifacts (job_id, node_index, path, task_id, blob_key, size)
       VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (job_id, node_index, path)
       DO UPDATE SET task_id = EXCLUDED.task_id, blob_key = EXCLUDED.blob_key, size = EXCLUDED.size, created_at = now()`,
      [scope.jobId, node, rel, scope.taskId, blobKey, size],
    );
  }

  async listArtifacts(jobId: string): Promise<ArtifactRecord[]> {
    const { rows } = await this.db.query<{
      path: string;
      node_index: number;
      size: string | number;
    }>(
      "SELECT path, node_index, size FROM task_artifacts WHERE job_id = $1 ORDER BY node_index, path",
      [jobId],
    );
    return rows.map((r) => ({
      path: r.path,
      nodeIndex: Number(r.node_index),
      size: Number(r.size),
    }));
  }

  /** Where an artifact's bytes are kept, or undefined when there is no such artifact. */
  async findArtifact(
    jobId: string,
    nodeIndex: number,
    path: string,
  ): Promise<{ blobKey: string; size: number } | undefined> {
    const { rows } = await this.db.query<{ blob_key: string; size: string | number }>(
      "SELECT blob_key, size FROM task_artifacts WHERE job_id = $1 AND node_index = $2 AND path = $3",
      [jobId, nodeIndex, path],
    );
    const r = rows[0];
    return r ? { blobKey: r.blob_key, size: Number(r.size) } : undefined;
  }

  async getArtifact(
    jobId: string,
    nodeIndex: number,
    path: string,
  ): Promise<{ body: Readable; size: number } | undefined> {
    const found = await this.findArtifact(jobId, nodeIndex, path);
    if (!found) return undefined;
    const body = await this.blobs.get(found.blobKey);
    return body ? { body, size: found.size } : undefined;
  }

  async addTests(scope: TaskScope, tests: TestCase[]): Promise<void> {
    if (tests.length === 0) return;
    const node = scope.nodeIndex ?? 0;
    await this.db.transaction(async (tx) => {
      for (let i = 0; i < tests.length; i += 200) {
        const chunk = tests.slice(i, i + 200);
        const params: unknown[] = [];
        const values = chunk.map((t) => {
          const base = params.length;
          params.push(
            scope.jobId,
            node,
            scope.taskId,
            t.classname,
            t.name,
            t.file ?? null,
            t.result,
            t.message ?? null,
            t.runTimeSeconds,
            t.source,
          );
          return `(${Array.from({ length: 10 }, (_, k) => `$${base + k + 1}`).join(", ")})`;
        });
        await tx.query(
          `INSERT INTO task_tests (job_id, node_index, task_id, classname, name, file, result, message, run_time_seconds, source)
           VALUES ${values.join(", ")}`,
          params,
        );
      }
    });
  }

  /** Test cases of a job in upload order, paged by the last id seen. */
  async listTests(
    jobId: string,
    opts: { after?: number; limit?: number } = {},
  ): Promise<Array<TestCase & { id: number }>> {
    const { rows } = await this.db.query<Record<string, unknown>>(
      `SELECT id, classname, name, file, result, message, run_time_seconds, source
         FROM task_tests WHERE job_id = $1 AND id > $2 ORDER BY id LIMIT $3`,
      [jobId, opts.after ?? 0, opts.limit ?? 1000],
    );
    return rows.map((r) => ({
      id: Number(r.id),
      classname: String(r.classname),
      name: String(r.name),
      ...(r.file ? { file: String(r.file) } : {}),
      result: r.result as TestCase["result"],
      ...(r.message ? { message: String(r.message) } : {}),
      runTimeSeconds: Number(r.run_time_seconds),
      source: String(r.source),
    }));
  }

  /** The first key (in order) that prefix-matches a cache of the project; most recent wins. */
  async findCache(projectSlug: string, keys: string[]): Promise<string | undefined> {
    for (const k of keys) {
      if (!k) continue;
      const { rows } = await this.db.query<{ key: string }>(
        `SELECT key FROM task_caches WHERE project_slug = $1 AND left(key, length($2)) = $2
          ORDER BY seq DESC LIMIT 1`,
        [projectSlug, k],
      );
      if (rows[0]) return rows[0].key;
    }
    return undefined;
  }

  async getCache(projectSlug: string, key: string): Promise<Readable | undefined> {
    const { rows } = await this.db.query<{ blob_key: string }>(
      "SELECT blob_key FROM task_caches WHERE project_slug = $1 AND key = $2",
      [projectSlug, key],
    );
    return rows[0] ? this.blobs.get(rows[0].blob_key) : undefined;
  }

  /** Stores a cache; false (and nothing stored) when the key exists: keys are immutable. */
  async putCache(scope: TaskScope, key: string, body: Readable): Promise<boolean> {
    if (!key || key.length > 512)
      throw new StorageError("DROVER_ERR_STORAGE_INVALID", "cache key must be 1-512 characters");
    if ((await this.findCache(scope.projectSlug, [key])) === key) {
      body.resume();
      return false;
    }
    const blobKey = `caches/${encodeURIComponent(scope.projectSlug)}/${randomUUID()}`;
    const { size } = await this.blobs.put(blobKey, body, { maxBytes: this.max });
    const { rowCount } = await this.db.query(
      `INSERT INTO task_caches (project_slug, key, blob_key, size, task_id) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (project_slug, key) DO NOTHING`,
      [scope.projectSlug, key, blobKey, size, scope.taskId],
    );
    if (rowCount === 0) {
      await this.blobs.delete(blobKey);
      return false;
    }
    return true;
  }

  async putWorkspaceLayer(scope: TaskScope, body: Readable): Promise<string> {
    const id = randomUUID();
    const blobKey = `workspaces/${scope.workflowId}/${id}`;
    const { size } = await this.blobs.put(blobKey, body, { maxBytes: this.max });
    await this.db.query(
      `INSERT INTO task_workspace_layers (id, workflow_id, job_id, task_id, blob_key, size) VALUES ($1, $2, $3, $4, $5, $6)`,
      [id, scope.workflowId, scope.jobId, scope.taskId, blobKey, size],
    );
    return id;
  }

  /** Layers this task attaches, in apply order (upload order). */
  async listWorkspaceLayers(scope: TaskScope): Promise<Array<{ id: string }>> {
    const { rows } = scope.upstreamJobIds
      ? await this.db.query<{ id: string }>(
          `SELECT id FROM task_workspace_layers WHERE workflow_id = $1 AND job_id = ANY($2::text[]) ORDER BY seq`,
          [scope.workflowId, scope.upstreamJobIds],
        )
      : await this.db.query<{ id: string }>(
          `SELECT id FROM task_workspace_layers WHERE workflow_id = $1 AND job_id <> $2 ORDER BY seq`,
          [scope.workflowId, scope.jobId],
        );
    return rows.map((r) => ({ id: r.id }));
  }

  async getWorkspaceLayer(scope: TaskScope, id: string): Promise<Readable | undefined> {
    const { rows } = await this.db.query<{ blob_key: string }>(
      "SELECT blob_key FROM task_workspace_layers WHERE id = $1 AND workflow_id = $2",
      [id, scope.workflowId],
    );
    return rows[0] ? this.blobs.get(rows[0].blob_key) : undefined;
  }

  /**
   * Deletes what is older than its retention (rows first, so nothing new finds them, then their
   * blobs) and says how many of each went. Safe to run on several instances at once: each row is
   * deleted, and its blob removed, by one of them.
   */
  async expire(
    days: RetentionDays = DEFAULT_RETENTION,
    now: Date = new Date(),
  ): Promise<RetentionDays> {
    const removed: RetentionDays = { caches: 0, artifacts: 0, workspaces: 0 };
    for (const { table, kind } of EXPIRING) {
      const cutoff = new Date(now.getTime() - days[kind] * 86_400_000);
      const { rows } = await this.db.query<{ blob_key: string }>(
        `DELETE FROM ${table} WHERE created_at < $1 RETURNING blob_key`,
        [cutoff.toISOString()],
      );
      for (const r of rows) await this.blobs.delete(r.blob_key);
      removed[kind] = rows.length;
    }
    return removed;
  }
}
