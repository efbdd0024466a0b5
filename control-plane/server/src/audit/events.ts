/** Every action the audit log records: CircleCI Server's list, then Drover's additions. */
export const AUDIT_ACTIONS = [
  "context.create",
  "context.delete",
  "context.env_var.delete",
  "context.env_var.store",
  "context.secrets.accessed",
  "project.env_var.create",
  "project.env_var.delete",
  "project.settings.update",
  "project.ssh_key.create",
  "project.ssh_key.delete",
  "project.api_token.create",
  "schedule.create",
  "schedule.update",
  "schedule.delete",
  "user.create",
  "user.logged_in",
  "user.logged_out",
  "workflow.job.approve",
  "workflow.job.finish",
  "workflow.job.scheduled",
  "workflow.job.start",
  // Drover's additions: the mutations behind context restrictions are audited too.
  "context.restriction.create",
  "context.restriction.delete",
  "user_group.create",
  "user_group.member.add",
  "user_group.member.remove",
  // Drover's additions: mutating API endpoints CircleCI's list has no event for (see README.md).
  "project.create",
  "pipeline.trigger",
  "workflow.cancel",
  "workflow.rerun",
  "job.cancel",
  "user.api_token.create",
  "user.api_token.revoke",
  "user.delete",
  "project.member.remove",
  "user.ssh_key.create",
  "user.ssh_key.delete",
  // Drover's additions: sessions of a rerun with SSH, with the key's fingerprint.
  "job.ssh.login",
  "job.ssh.logout",
] as const;

export type AuditAction = (typeof AUDIT_ACTIONS)[number];

export const isAuditAction = (s: string): s is AuditAction =>
  (AUDIT_ACTIONS as readonly string[]).includes(s);

/** Who or what an event is about: `{id, type, name}` (type e.g. `user`, `project`, `context`). */
export interface AuditEntity {
  id: string;
  type: string;
  name: string;
}

/** What a caller records. */
export interface AuditEventInput {
  action: AuditAction;
  /** Who acted: a user (`type: "user"`), or `system` for scheduled/engine actions. */
  actor: AuditEntity;
  target: AuditEntity;
  /** The organization (or instance) the event belongs to; default: the Drover instance. */
  scope?: AuditEntity | undefined;
  /** Structured details. Never a secret value: keys named like one are refused. */
  payload?: Record<string, unknown> | undefined;
  metadata?: Record<string, string> | undefined;
  /** Default true; false records a refused attempt (a failed login). */
  success?: boolean | undefined;
  /** The HTTP request's id, when the action came through the API. */
  requestId?: string | null | undefined;
}

/** A recorded event, in the shape the API and the CSV export show. */
export interface AuditEvent {
  id: string;
  version: 1;
  action: string;
  actor: AuditEntity;
  target: AuditEntity;
  scope: AuditEntity;
  payload: Record<string, unknown>;
  metadata: Record<string, string>;
  success: boolean;
  /** UTC ISO-8601 with microseconds, e.g. `2026-11-22T03:04:05.123456Z`. */
  occurred_at: string;
  request: { id: string | null };
}

export const INSTANCE_SCOPE: AuditEntity = { id: "drover", type: "instance", name: "drover" };

export const SYSTEM_ACTOR: AuditEntity = { id: "system", type: "system", name: "Drover" };

/** Who asked for an action and through which HTTP request; passed down to where it commits. */
export interface AuditContext {
  actor: AuditEntity;
  requestId?: string | null | undefined;
}
