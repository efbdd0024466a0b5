import type { AuditEvent } from "./events.js";

/** Column order of the CSV export; nested fields are JSON. */
export const AUDIT_CSV_COLUMNS = [
  "id",
  "version",
  "action",
  "occurred_at",
  "actor",
  "target",
  "scope",
  "payload",
  "metadata",
  "success",
  "request",
] as const;

/** One RFC 4180 field: quoted (quotes doubled) when it holds a comma, quote, CR or LF. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replaceAll('"', '""')}"` : value;
}

function cell(e: AuditEvent, column: (typeof AUDIT_CSV_COLUMNS)[number]): string {
  const v = e[column];
  return typeof v === "string" ? v : JSON.stringify(v);
}

/** One CRLF-terminated CSV record. */
export function auditCsvRow(e: AuditEvent): string {
  return AUDIT_CSV_COLUMNS.map((c) => csvField(cell(e, c))).join(",") + "\r\n";
}

export const AUDIT_CSV_HEADER = AUDIT_CSV_COLUMNS.join(",") + "\r\n";

/** The header, then one record per event, in chunks of roughly `chunkBytes`. */
export async function* auditCsv(
  events: AsyncIterable<AuditEvent>,
  chunkBytes = 64 * 1024,
): AsyncGenerator<string> {
  let buf = AUDIT_CSV_HEADER;
  for await (const e of events) {
    buf += auditCsvRow(e);
    if (buf.length >= chunkBytes) {
      yield buf;
      buf = "";
    }
  }
  if (buf) yield buf;
}
