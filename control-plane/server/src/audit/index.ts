export {
  AUDIT_ACTIONS,
  INSTANCE_SCOPE,
  SYSTEM_ACTOR,
  isAuditAction,
  type AuditAction,
  type AuditContext,
  type AuditEntity,
  type AuditEvent,
  type AuditEventInput,
} from "./events.js";
export {
  AuditError,
  recordAudit,
  recordAuditBatch,
  queryAudit,
  streamAudit,
  type AuditFilter,
  type AuditPage,
  type AuditPageRequest,
} from "./log.js";
export { AUDIT_CSV_COLUMNS, AUDIT_CSV_HEADER, auditCsv, auditCsvRow, csvField } from "./csv.js";
export { registerAuditRoutes } from "./routes.js";
export { actorOf, jobEntity, orgScope, projectEntity, scheduleEntity } from "./entities.js";
