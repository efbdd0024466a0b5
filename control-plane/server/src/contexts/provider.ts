import type { Logger } from "pino";
import type { Database } from "../db/types.js";
import { recordAudit } from "../audit/log.js";
import { SYSTEM_ACTOR, type AuditEntity } from "../audit/events.js";
import type { SecretStore } from "../secrets/types.js";
import { loadRestrictions, restrictionDenial, type Subject } from "./access.js";
import { ContextsError } from "./errors.js";
import type { TaskSecrets, TaskSecretsInput, TaskSecretsProvider } from "../engine/task-service.js";

export type { TaskSecrets, TaskSecretsInput };

export type ContextAccess =
  | { allowed: true }
  | { allowed: false; context: string; code: ContextsError["code"]; reason: string };

interface ContextRow {
  id: string;
  name: string;
}

/**
 * The engine's `TaskSecretsProvider`: decrypts a task's project env vars and context variables
 * when, and only when, the task claims its work. Context restrictions are checked again here (the
 * engine should call `checkAccess` before scheduling, so a job that may not use a context ends
 * `unauthorized` without running); a denial throws `DROVER_ERR_CONTEXT_UNAUTHORIZED`. Each context
 * read records `context.secrets.accessed` (names only) before any value is returned; if that
 * record cannot be written, nothing is returned. When two contexts define a name, the one listed
 * later wins.
 */
export class ContextSecretsProvider implements TaskSecretsProvider {
  private readonly log: Logger | undefined;

  constructor(private readonly deps: { db: Database; store: SecretStore; logger?: Logger }) {
    this.log = deps.logger?.child({ unit: "task-secrets" });
  }

  /** Whether a job may use all its contexts; the first refusal, named, otherwise. */
  async checkAccess(
    input: Omit<TaskSecretsInput, "taskId" | "projectSlug">,
  ): Promise<ContextAccess> {
    for (const name of unique(input.contexts)) {
      const context = await this.findContext(input.orgId, name);
      if (!context) {
        return {
          allowed: false,
          context: name,
          code: "DROVER_ERR_CONTEXTS_NOT_FOUND",
          reason: `context '${name}' does not exist in the project's organization`,
        };
      }
      const denial = await restrictionDenial(
        this.deps.db,
        await loadRestrictions(this.deps.db, context.id),
        jobSubject(input),
      );
      if (denial) {
        return {
          allowed: false,
          context: name,
          code: "DROVER_ERR_CONTEXT_UNAUTHORIZED",
          reason: denial,
        };
      }
    }
    return { allowed: true };
  }

  async forTask(input: TaskSecretsInput): Promise<TaskSecrets> {
    const db = this.deps.db;
    const project = (
      await db.query<{ name: string; ciphertext: string }>(
        "SELECT name, ciphertext FROM project_env_vars WHERE project_id = $1 ORDER BY name",
        [input.projectId],
      )
    ).rows;
    const contexts: { context: ContextRow; vars: { name: string; ciphertext: string }[] }[] = [];
    for (const name of unique(input.contexts)) {
      const context = await this.findContext(input.orgId, name);
      if (!context) {
        throw new ContextsError(
          "DROVER_ERR_CONTEXTS_NOT_FOUND",
          `context '${name}' does not exist in the organization of ${input.projectSlug}`,
        );
      }
      const denial = await restrictionDenial(
        db,
        await loadRestrictions(db, context.id),
        jobSubject(input),
      );
      if (denial) {
        throw new ContextsError(
          "DROVER_ERR_CONTEXT_UNAUTHORIZED",
          `job may not use context '${name}': ${denial}`,
        );
      }
      const vars = (
        await db.query<{ name: string; ciphertext: string }>(
          "SELECT name, ciphertext FROM context_env_vars WHERE context_id = $1 ORDER BY name",
          [context.id],
        )
      ).rows;
      contexts.push({ context, vars });
    }

    const all = [...project, ...contexts.flatMap((c) => c.vars)];
    const plain =
      all.length > 0 ? await this.deps.store.decryptMany(all.map((v) => v.ciphertext)) : [];
    const projectEnv: Record<string, string> = {};
    const contextEnv: Record<string, string> = {};
    let i = 0;
    for (const v of project) projectEnv[v.name] = plain[i++]!;
    for (const c of contexts) for (const v of c.vars) contextEnv[v.name] = plain[i++]!;

    if (contexts.length > 0) {
      const actor = await this.actor(input.userId);
      const scope = await this.orgScope(input.orgId);
      await db.transaction(async (tx) => {
        for (const c of contexts) {
          await recordAudit(tx, {
            action: "context.secrets.accessed",
            actor,
            target: { id: c.context.id, type: "context", name: c.context.name },
            scope,
            payload: {
              task_id: input.taskId,
              project: { id: input.projectId, slug: input.projectSlug },
              env_var_names: c.vars.map((v) => v.name),
            },
          });
        }
      });
    }
    this.log?.info(
      {
        taskId: input.taskId,
        projectVars: project.length,
        contexts: contexts.map((c) => c.context.name),
      },
      "task secrets released",
    );
    return { project: projectEnv, contexts: contextEnv, secrets: [...new Set(plain)] };
  }

  private async findContext(orgId: string, name: string): Promise<ContextRow | undefined> {
    const { rows } = await this.deps.db.query<ContextRow>(
      "SELECT id, name FROM contexts WHERE org_id = $1 AND name = $2",
      [orgId, name],
    );
    return rows[0];
  }

  private async actor(userId: string | null): Promise<AuditEntity> {
    if (!userId) return SYSTEM_ACTOR;
    const { rows } = await this.deps.db.query<{ login: string }>(
      "SELECT login FROM users WHERE id = $1",
      [userId],
    );
    return { id: userId, type: "user", name: rows[0]?.login ?? "" };
  }

  private async orgScope(orgId: string): Promise<AuditEntity> {
    const { rows } = await this.deps.db.query<{ vcs: string; name: string }>(
      "SELECT vcs, name FROM organizations WHERE id = $1",
      [orgId],
    );
    return {
      id: orgId,
      type: "organization",
      name: rows[0] ? `${rows[0].vcs}/${rows[0].name}` : "",
    };
  }
}

const jobSubject = (input: { projectId: string; userId: string | null }): Subject => ({
  kind: "job",
  projectId: input.projectId,
  userId: input.userId,
});

function unique(names: readonly string[]): string[] {
  return [...new Set(names)];
}
