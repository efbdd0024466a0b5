import { randomUUID } from "node:crypto";
import type { Database, Queryable } from "../db/types.js";
import { recordAudit } from "../audit/log.js";
import type { AuditAction, AuditEntity } from "../audit/events.js";
import type { SecretStore } from "../secrets/types.js";
import {
  canSeeOrg,
  canSeeProject,
  isRestricted,
  loadRestrictions,
  restrictionDenial,
  type CallContext,
} from "./access.js";
import { ContextsError, forbidden, invalid, notFound } from "./errors.js";
import { checkName, checkValue, valueHint } from "./values.js";

/** `GET /project/{slug}/envvar` items: the value only as its hint. */
export interface ProjectEnvVarView {
  name: string;
  value: string;
  created_at: string;
}

export interface ContextView {
  id: string;
  name: string;
  created_at: string;
}

export interface ContextEnvVarView {
  variable: string;
  context_id: string;
  created_at: string;
  updated_at: string;
}

export interface RestrictionView {
  id: string;
  context_id: string;
  restriction_type: "project" | "group";
  restriction_value: string;
  /** The project's slug or the group's name. */
  name: string;
}

export interface GroupView {
  id: string;
  name: string;
  owner_id: string;
  members: string[];
  created_at: string;
}

interface ProjectRow {
  id: string;
  org_id: string;
  slug: string;
}

interface ContextRow {
  id: string;
  org_id: string;
  name: string;
  created_at: Date | string;
}

interface OrgRow {
  id: string;
  vcs: string;
  name: string;
}

const iso = (d: Date | string): string => (d instanceof Date ? d : new Date(d)).toISOString();
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const CONTEXT_NAME = /^[A-Za-z0-9][A-Za-z0-9 _.-]{0,99}$/;
const PAGE = 100;

/**
 * Project env vars, contexts, their restrictions and user groups. Values are encrypted with the
 * secret store before the transaction that writes them and are never decrypted here: reads show
 * names and hints only (decryption happens at claim time, in `ContextSecretsProvider`). Every
 * mutation records its audit event in the same transaction.
 */
export class ContextsService {
  constructor(private readonly deps: { db: Database; store: SecretStore }) {}

  // ---- project env vars

  async listProjectEnvVars(ctx: CallContext, slug: string): Promise<ProjectEnvVarView[]> {
    const project = await this.visibleProject(ctx, slug);
    const { rows } = await this.deps.db.query<{ name: string; hint: string; created_at: Date }>(
      "SELECT name, hint, created_at FROM project_env_vars WHERE project_id = $1 ORDER BY name",
      [project.id],
    );
    return rows.map((r) => ({ name: r.name, value: r.hint, created_at: iso(r.created_at) }));
  }

  async getProjectEnvVar(ctx: CallContext, slug: string, name: string): Promise<ProjectEnvVarView> {
    const project = await this.visibleProject(ctx, slug);
    const { rows } = await this.deps.db.query<{ name: string; hint: string; created_at: Date }>(
      "SELECT name, hint, created_at FROM project_env_vars WHERE project_id = $1 AND name = $2",
      [project.id, name],
    );
    const r = rows[0];
    if (!r) throw notFound("Environment variable");
    return { name: r.name, value: r.hint, created_at: iso(r.created_at) };
  }

  /** Creates or replaces the variable (CircleCI's POST semantics). */
  async setProjectEnvVar(
    ctx: CallContext,
    slug: string,
    rawName: unknown,
    rawValue: unknown,
  ): Promise<ProjectEnvVarView> {
    const name = checkName(rawName);
    const value = checkValue(rawValue);
    const project = await this.visibleProject(ctx, slug);
    const ciphertext = await this.deps.store.encrypt(value);
    const hint = valueHint(value);
    return this.deps.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ created_at: Date }>(
        `INSERT INTO project_env_vars (project_id, name, ciphertext, hint) VALUES ($1, $2, $3, $4)
         ON CONFLICT (project_id, name)
         DO UPDATE SET ciphertext = EXCLUDED.ciphertext, hint = EXCLUDED.hint, updated_at = now()
         RETURNING created_at`,
        [project.id, name, ciphertext, hint],
      );
      await this.audit(tx, ctx, "project.env_var.create", {
        target: { id: project.id, type: "project", name: project.slug },
        scope: await this.orgScope(tx, project.org_id),
        payload: { env_var: { name } },
      });
      return { name, value: hint, created_at: iso(rows[0]!.created_at) };
    });
  }

  async deleteProjectEnvVar(ctx: CallContext, slug: string, name: string): Promise<void> {
    const project = await this.visibleProject(ctx, slug);
    await this.deps.db.transaction(async (tx) => {
      const { rowCount } = await tx.query(
        "DELETE FROM project_env_vars WHERE project_id = $1 AND name = $2",
        [project.id, name],
      );
      if (rowCount === 0) throw notFound("Environment variable");
      await this.audit(tx, ctx, "project.env_var.delete", {
        target: { id: project.id, type: "project", name: project.slug },
        scope: await this.orgScope(tx, project.org_id),
        payload: { env_var: { name } },
      });
    });
  }

  // ---- contexts

  async createContext(
    ctx: CallContext,
    body: { name?: unknown; owner?: { id?: unknown; slug?: unknown; type?: unknown } },
  ): Promise<ContextView> {
    this.requireAdmin(ctx, "create contexts");
    const name = body.name;
    if (typeof name !== "string" || !CONTEXT_NAME.test(name)) {
      throw invalid(
        "name: 1-100 characters, letters, digits, space, '_', '.' or '-', starting with a letter or digit",
      );
    }
    // CircleCI's standalone organizations are `account`; Drover's organizations are one kind.
    const ownerType = body.owner?.type;
    if (ownerType !== undefined && ownerType !== "organization" && ownerType !== "account") {
      throw invalid("owner.type: 'organization' or 'account' owns contexts here");
    }
    const org = await this.resolveOrg(ctx, body.owner?.id, body.owner?.slug, "owner");
    return this.deps.db.transaction(async (tx) => {
      const { rows } = await tx.query<ContextRow>(
        `INSERT INTO contexts (id, org_id, name) VALUES ($1, $2, $3)
         ON CONFLICT (org_id, name) DO NOTHING RETURNING *`,
        [randomUUID(), org.id, name],
      );
      const row = rows[0];
      if (!row) {
        throw new ContextsError("DROVER_ERR_CONTEXTS_CONFLICT", `context '${name}' exists already`);
      }
      await this.audit(tx, ctx, "context.create", {
        target: { id: row.id, type: "context", name },
        scope: orgEntity(org),
        payload: { context: { name } },
      });
      return contextView(row);
    });
  }

  async listContexts(
    ctx: CallContext,
    q: {
      ownerId?: string | undefined;
      ownerSlug?: string | undefined;
      pageToken?: string | undefined;
    },
  ): Promise<{ items: ContextView[]; next_page_token: string | null }> {
    const org = await this.resolveOrg(ctx, q.ownerId, q.ownerSlug, "owner-id");
    let after = "";
    if (q.pageToken) {
      try {
        after = Buffer.from(q.pageToken, "base64url").toString("utf8");
      } catch {
        throw invalid("page-token: not a token this API issued");
      }
    }
    const { rows } = await this.deps.db.query<ContextRow>(
      "SELECT * FROM contexts WHERE org_id = $1 AND name > $2 ORDER BY name LIMIT $3",
      [org.id, after, PAGE + 1],
    );
    const more = rows.length > PAGE;
    const page = rows.slice(0, PAGE);
    return {
      items: page.map(contextView),
      next_page_token: more ? Buffer.from(page[page.length - 1]!.name).toString("base64url") : null,
    };
  }

  async getContext(ctx: CallContext, id: string): Promise<ContextView> {
    return contextView(await this.visibleContext(ctx, id));
  }

  async deleteContext(ctx: CallContext, id: string): Promise<void> {
    const context = await this.visibleContext(ctx, id);
    this.requireAdmin(ctx, "delete contexts");
    await this.deps.db.transaction(async (tx) => {
      const { rowCount } = await tx.query("DELETE FROM contexts WHERE id = $1", [context.id]);
      if (rowCount === 0) throw notFound("Context");
      await this.audit(tx, ctx, "context.delete", {
        target: { id: context.id, type: "context", name: context.name },
        scope: await this.orgScope(tx, context.org_id),
        payload: { context: { name: context.name } },
      });
    });
  }

  async listContextEnvVars(
    ctx: CallContext,
    id: string,
  ): Promise<{ items: ContextEnvVarView[]; next_page_token: null }> {
    const context = await this.visibleContext(ctx, id);
    const { rows } = await this.deps.db.query<{ name: string; created_at: Date; updated_at: Date }>(
      "SELECT name, created_at, updated_at FROM context_env_vars WHERE context_id = $1 ORDER BY name",
      [context.id],
    );
    return {
      items: rows.map((r) => ({
        variable: r.name,
        context_id: context.id,
        created_at: iso(r.created_at),
        updated_at: iso(r.updated_at),
      })),
      next_page_token: null,
    };
  }

  async putContextEnvVar(
    ctx: CallContext,
    id: string,
    rawName: unknown,
    rawValue: unknown,
  ): Promise<ContextEnvVarView> {
    const name = checkName(rawName, "env-var-name");
    const value = checkValue(rawValue);
    await this.editableContext(this.deps.db, ctx, id);
    const ciphertext = await this.deps.store.encrypt(value);
    return this.deps.db.transaction(async (tx) => {
      const { context, restricted } = await this.editableContext(tx, ctx, id, { lock: true });
      const { rows } = await tx.query<{ created_at: Date; updated_at: Date }>(
        `INSERT INTO context_env_vars (context_id, name, ciphertext) VALUES ($1, $2, $3)
         ON CONFLICT (context_id, name)
         DO UPDATE SET ciphertext = EXCLUDED.ciphertext, updated_at = now()
         RETURNING created_at, updated_at`,
        [context.id, name, ciphertext],
      );
      await this.audit(tx, ctx, "context.env_var.store", {
        target: { id: context.id, type: "context", name: context.name },
        scope: await this.orgScope(tx, context.org_id),
        payload: { env_var: { name }, context: { restricted } },
      });
      return {
        variable: name,
        context_id: context.id,
        created_at: iso(rows[0]!.created_at),
        updated_at: iso(rows[0]!.updated_at),
      };
    });
  }

  async deleteContextEnvVar(ctx: CallContext, id: string, name: string): Promise<void> {
    await this.deps.db.transaction(async (tx) => {
      const { context, restricted } = await this.editableContext(tx, ctx, id, { lock: true });
      const { rowCount } = await tx.query(
        "DELETE FROM context_env_vars WHERE context_id = $1 AND name = $2",
        [context.id, name],
      );
      if (rowCount === 0) throw notFound("Environment variable");
      await this.audit(tx, ctx, "context.env_var.delete", {
        target: { id: context.id, type: "context", name: context.name },
        scope: await this.orgScope(tx, context.org_id),
        payload: { env_var: { name }, context: { restricted } },
      });
    });
  }

  // ---- restrictions

  async listRestrictions(ctx: CallContext, id: string): Promise<{ items: RestrictionView[] }> {
    const context = await this.visibleContext(ctx, id);
    const { rows } = await this.deps.db.query<{
      id: string;
      restriction_type: "project" | "group";
      restriction_value: string;
      label: string | null;
    }>(
      `SELECT r.id, r.restriction_type, r.restriction_value,
              COALESCE(p.slug, g.name) AS label
         FROM context_restrictions r
         LEFT JOIN projects p ON r.restriction_type = 'project' AND p.id = r.restriction_value
         LEFT JOIN user_groups g ON r.restriction_type = 'group' AND g.id = r.restriction_value
        WHERE r.context_id = $1 ORDER BY r.created_at, r.id`,
      [context.id],
    );
    // A project the caller cannot see keeps its slug hidden, as everywhere else in the API.
    const shown = (r: { restriction_type: string; restriction_value: string }) =>
      r.restriction_type !== "project" || canSeeProject(ctx.actor, r.restriction_value);
    return {
      items: rows.map((r) => ({
        id: r.id,
        context_id: context.id,
        restriction_type: r.restriction_type,
        restriction_value: r.restriction_value,
        name: shown(r) ? (r.label ?? "") : "",
      })),
    };
  }

  async addRestriction(
    ctx: CallContext,
    id: string,
    body: { restriction_type?: unknown; restriction_value?: unknown },
  ): Promise<RestrictionView> {
    const context = await this.visibleContext(ctx, id);
    this.requireAdmin(ctx, "restrict contexts");
    const type = body.restriction_type;
    const value = body.restriction_value;
    if (type !== "project" && type !== "group") {
      throw invalid("restriction_type: 'project' or 'group'");
    }
    if (typeof value !== "string" || !UUID.test(value)) {
      throw invalid(`restriction_value: the ${type} id (a UUID)`);
    }
    return this.deps.db.transaction(async (tx) => {
      await lockContext(tx, context.id);
      const { rows: found } = await tx.query<{ label: string }>(
        type === "project"
          ? "SELECT slug AS label FROM projects WHERE id = $1 AND org_id = $2"
          : "SELECT name AS label FROM user_groups WHERE id = $1 AND org_id = $2",
        [value, context.org_id],
      );
      if (!found[0])
        throw invalid(`restriction_value: no ${type} ${value} in the context's organization`);
      const rid = randomUUID();
      const { rows } = await tx.query(
        `INSERT INTO context_restrictions (id, context_id, restriction_type, restriction_value)
         VALUES ($1, $2, $3, $4) ON CONFLICT DO NOTHING RETURNING id`,
        [rid, context.id, type, value],
      );
      if (!rows[0])
        throw new ContextsError("DROVER_ERR_CONTEXTS_CONFLICT", "restriction exists already");
      await this.audit(tx, ctx, "context.restriction.create", {
        target: { id: context.id, type: "context", name: context.name },
        scope: await this.orgScope(tx, context.org_id),
        payload: {
          restriction: {
            id: rid,
            restriction_type: type,
            restriction_value: value,
            name: found[0].label,
          },
        },
      });
      return {
        id: rid,
        context_id: context.id,
        restriction_type: type,
        restriction_value: value,
        name: found[0].label,
      };
    });
  }

  async deleteRestriction(ctx: CallContext, id: string, restrictionId: string): Promise<void> {
    const context = await this.visibleContext(ctx, id);
    this.requireAdmin(ctx, "restrict contexts");
    if (!UUID.test(restrictionId)) throw notFound("Restriction");
    await this.deps.db.transaction(async (tx) => {
      await lockContext(tx, context.id);
      const { rows } = await tx.query<{ restriction_type: string; restriction_value: string }>(
        `DELETE FROM context_restrictions WHERE id = $1 AND context_id = $2
         RETURNING restriction_type, restriction_value`,
        [restrictionId, context.id],
      );
      if (!rows[0]) throw notFound("Restriction");
      await this.audit(tx, ctx, "context.restriction.delete", {
        target: { id: context.id, type: "context", name: context.name },
        scope: await this.orgScope(tx, context.org_id),
        payload: {
          restriction: {
            id: restrictionId,
            restriction_type: rows[0].restriction_type,
            restriction_value: rows[0].restriction_value,
          },
        },
      });
    });
  }

  // ---- user groups

  async createGroup(
    ctx: CallContext,
    body: { name?: unknown; owner?: { id?: unknown; slug?: unknown } },
  ): Promise<GroupView> {
    this.requireAdmin(ctx, "manage user groups");
    if (typeof body.name !== "string" || !CONTEXT_NAME.test(body.name)) {
      throw invalid("name: 1-100 characters, letters, digits, space, '_', '.' or '-'");
    }
    const name = body.name;
    const org = await this.resolveOrg(ctx, body.owner?.id, body.owner?.slug, "owner");
    return this.deps.db.transaction(async (tx) => {
      const { rows } = await tx.query<{ id: string; created_at: Date }>(
        `INSERT INTO user_groups (id, org_id, name) VALUES ($1, $2, $3)
         ON CONFLICT (org_id, name) DO NOTHING RETURNING id, created_at`,
        [randomUUID(), org.id, name],
      );
      if (!rows[0])
        throw new ContextsError("DROVER_ERR_CONTEXTS_CONFLICT", `group '${name}' exists already`);
      await this.audit(tx, ctx, "user_group.create", {
        target: { id: rows[0].id, type: "user_group", name },
        scope: orgEntity(org),
        payload: { group: { name } },
      });
      return {
        id: rows[0].id,
        name,
        owner_id: org.id,
        members: [],
        created_at: iso(rows[0].created_at),
      };
    });
  }

  async listGroups(
    ctx: CallContext,
    q: { ownerId?: string | undefined; ownerSlug?: string | undefined },
  ): Promise<{ items: GroupView[] }> {
    const org = await this.resolveOrg(ctx, q.ownerId, q.ownerSlug, "owner-id");
    const { rows } = await this.deps.db.query<{
      id: string;
      name: string;
      created_at: Date;
      members: string[] | null;
    }>(
      `SELECT g.id, g.name, g.created_at,
              (SELECT array_agg(m.user_id::text ORDER BY m.user_id) FROM user_group_members m
                WHERE m.group_id = g.id) AS members
         FROM user_groups g WHERE g.org_id = $1 ORDER BY g.name`,
      [org.id],
    );
    return {
      items: rows.map((r) => ({
        id: r.id,
        name: r.name,
        owner_id: org.id,
        members: r.members ?? [],
        created_at: iso(r.created_at),
      })),
    };
  }

  async setGroupMember(
    ctx: CallContext,
    groupId: string,
    userId: string,
    member: boolean,
  ): Promise<void> {
    this.requireAdmin(ctx, "manage user groups");
    if (!UUID.test(groupId)) throw notFound("Group");
    if (!UUID.test(userId)) throw notFound("User");
    await this.deps.db.transaction(async (tx) => {
      const { rows: groups } = await tx.query<{ id: string; name: string; org_id: string }>(
        "SELECT id, name, org_id FROM user_groups WHERE id = $1",
        [groupId],
      );
      const group = groups[0];
      if (!group) throw notFound("Group");
      const { rows: users } = await tx.query<{ login: string }>(
        "SELECT login FROM users WHERE id = $1",
        [userId],
      );
      if (!users[0]) throw notFound("User");
      const { rowCount } = member
        ? await tx.query(
            "INSERT INTO user_group_members (group_id, user_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
            [groupId, userId],
          )
        : await tx.query("DELETE FROM user_group_members WHERE group_id = $1 AND user_id = $2", [
            groupId,
            userId,
          ]);
      if (rowCount === 0) return; // already so: nothing happened, nothing to record
      await this.audit(tx, ctx, member ? "user_group.member.add" : "user_group.member.remove", {
        target: { id: group.id, type: "user_group", name: group.name },
        scope: await this.orgScope(tx, group.org_id),
        payload: { user: { id: userId, login: users[0].login } },
      });
    });
  }

  // ---- helpers

  private requireAdmin(ctx: CallContext, what: string): void {
    if (ctx.actor.role !== "admin") throw forbidden(`Only admins may ${what}.`);
  }

  private async visibleProject(ctx: CallContext, slug: string): Promise<ProjectRow> {
    const { rows } = await this.deps.db.query<ProjectRow>(
      "SELECT id, org_id, slug FROM projects WHERE slug = $1",
      [slug],
    );
    const p = rows[0];
    if (!p || !canSeeProject(ctx.actor, p.id)) throw notFound("Project");
    return p;
  }

  private async visibleContext(
    ctx: CallContext,
    id: string,
    q: Queryable = this.deps.db,
    opts: { lock?: boolean } = {},
  ): Promise<ContextRow> {
    if (!UUID.test(id)) throw notFound("Context");
    const { rows } = await q.query<ContextRow>(
      `SELECT * FROM contexts WHERE id = $1${opts.lock ? " FOR UPDATE" : ""}`,
      [id],
    );
    const c = rows[0];
    if (!c || !(await canSeeOrg(q, ctx.actor, c.org_id))) throw notFound("Context");
    return c;
  }

  /**
   * The context, if the actor may change its variables: admins always, members when they may
   * use it (its restrictions admit them; see README.md). With `lock`, the context row stays
   * locked until `q`'s transaction ends, so restrictions cannot change between check and write.
   */
  private async editableContext(
    q: Queryable,
    ctx: CallContext,
    id: string,
    opts: { lock?: boolean } = {},
  ): Promise<{ context: ContextRow; restricted: boolean }> {
    const context = await this.visibleContext(ctx, id, q, opts);
    const restrictions = await loadRestrictions(q, context.id);
    const restricted = isRestricted(restrictions);
    if (ctx.actor.role === "admin" || !restricted) return { context, restricted };
    const denial = await restrictionDenial(q, restrictions, {
      kind: "user",
      projectIds: [...ctx.actor.projectIds],
      userId: ctx.actor.userId,
    });
    if (denial) throw forbidden(`You may not change this context: ${denial}.`);
    return { context, restricted };
  }

  private async resolveOrg(
    ctx: CallContext,
    id: unknown,
    slug: unknown,
    field: string,
  ): Promise<OrgRow> {
    let rows: OrgRow[];
    if (typeof id === "string" && id !== "") {
      if (!UUID.test(id)) throw notFound("Organization");
      rows = (
        await this.deps.db.query<OrgRow>("SELECT id, vcs, name FROM organizations WHERE id = $1", [
          id,
        ])
      ).rows;
    } else if (typeof slug === "string" && /^[a-z]+\/[A-Za-z0-9_.-]+$/.test(slug)) {
      const [vcs, name] = slug.split("/");
      rows = (
        await this.deps.db.query<OrgRow>(
          "SELECT id, vcs, name FROM organizations WHERE vcs = $1 AND name = $2",
          [vcs, name],
        )
      ).rows;
    } else {
      throw invalid(`${field}: an organization id, or its slug (<vcs>/<org>)`);
    }
    const org = rows[0];
    if (!org || !(await canSeeOrg(this.deps.db, ctx.actor, org.id))) throw notFound("Organization");
    return org;
  }

  private async orgScope(q: Queryable, orgId: string): Promise<AuditEntity> {
    const { rows } = await q.query<OrgRow>(
      "SELECT id, vcs, name FROM organizations WHERE id = $1",
      [orgId],
    );
    return rows[0] ? orgEntity(rows[0]) : { id: orgId, type: "organization", name: "" };
  }

  private async audit(
    tx: Queryable,
    ctx: CallContext,
    action: AuditAction,
    e: { target: AuditEntity; scope: AuditEntity; payload: Record<string, unknown> },
  ): Promise<void> {
    await recordAudit(tx, {
      action,
      actor: { id: ctx.actor.userId, type: "user", name: ctx.actor.login },
      target: e.target,
      scope: e.scope,
      payload: e.payload,
      requestId: ctx.requestId ?? null,
    });
  }
}

/** Serializes changes of one context's variables and restrictions (see `editableContext`). */
async function lockContext(tx: Queryable, id: string): Promise<void> {
  await tx.query("SELECT 1 FROM contexts WHERE id = $1 FOR UPDATE", [id]);
}

function orgEntity(org: OrgRow): AuditEntity {
  return { id: org.id, type: "organization", name: `${org.vcs}/${org.name}` };
}

function contextView(r: ContextRow): ContextView {
  return { id: r.id, name: r.name, created_at: iso(r.created_at) };
}
