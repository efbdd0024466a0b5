export type * from "./types.js";
export { DatabaseError } from "./errors.js";
export { PgliteDatabase } from "./pglite.js";
export { PostgresDatabase, type PostgresOptions } from "./postgres.js";
export {
  loadMigrations,
  migrate,
  splitStatements,
  MIGRATIONS_DIR,
  type Migration,
} from "./migrate.js";
export { openDatabase, databaseConfigSchema, type DatabaseConfig } from "./open.js";
export { PG_INTEGER_MAX, pgTextProblem } from "./limits.js";
