/** A jsonb column's value: PostgreSQL drivers hand it parsed, some paths as text. */
export function jsonColumn<T>(v: unknown): T {
  return (typeof v === "string" ? JSON.parse(v) : v) as T;
}
