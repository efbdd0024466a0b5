import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import {
  AuditError,
  ContextsError,
  ControlPlaneError,
  DroverError,
  ERROR_CODES,
  SchedulerUnavailableError,
  SecretsError,
  UsersError,
  faultOf,
  isErrorCode,
} from "@drover/control-plane";
import { DatabaseError } from "@drover/control-plane/db";
import { TLS_ERROR_CODES } from "@drover/tls";
import { StorageError } from "../../src/storage/errors.js";

const SRC = fileURLToPath(new URL("../../src/", import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? sourceFiles(join(dir, e.name))
      : e.name.endsWith(".ts")
        ? [join(dir, e.name)]
        : [],
  );
}

describe("the error code table", () => {
  it("gives every code an HTTP error status and a one-line meaning", () => {
    for (const [code, { status, meaning }] of Object.entries(ERROR_CODES)) {
      expect(code, code).toMatch(/^DROVER_ERR_[A-Z0-9_]+$/);
      expect(Number.isInteger(status) && status >= 400 && status <= 599, code).toBe(true);
      expect(meaning.trim().length, code).toBeGreaterThan(10);
      expect(meaning, code).not.toMatch(/\n/);
    }
  });

  it("lists each code once", () => {
    const text = readFileSync(join(SRC, "errors", "codes.ts"), "utf8");
    const keys = [...text.matchAll(/^\s*(DROVER_ERR_[A-Z0-9_]+):/gm)].map((m) => m[1]);
    expect(keys.length).toBeGreaterThan(40);
    expect(keys.filter((k, i) => keys.indexOf(k) !== i)).toEqual([]);
    expect([...keys].sort()).toEqual(Object.keys(ERROR_CODES).sort());
  });

  it("holds every code the server's source names", () => {
    const missing: string[] = [];
    for (const file of sourceFiles(SRC)) {
      for (const m of readFileSync(file, "utf8").matchAll(/DROVER_ERR_[A-Z0-9_]+/g)) {
        if (!isErrorCode(m[0])) missing.push(`${file.slice(SRC.length)}: ${m[0]}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it("holds every TLS code (@drover/tls)", () => {
    expect(TLS_ERROR_CODES.filter((c) => !isErrorCode(c))).toEqual([]);
  });

  it("separates the caller's faults (4xx) from our infrastructure's (5xx)", () => {
    expect(faultOf("DROVER_ERR_CONTEXTS_INVALID")).toBe("user");
    expect(faultOf("DROVER_ERR_SCHEDULER_UNAVAILABLE")).toBe("infrastructure");
    expect(faultOf("DROVER_ERR_SECRETS_VAULT")).toBe("infrastructure");
    expect(faultOf("DROVER_ERR_ENV_INVALID")).toBe("infrastructure");
  });
});

describe("the error classes", () => {
  it("share one base that carries the table's status and chains the cause", () => {
    const cause = new Error("connection refused");
    const errors: DroverError[] = [
      new ControlPlaneError("DROVER_ERR_INVALID_STATE", "x", { cause }),
      new ContextsError("DROVER_ERR_CONTEXTS_INVALID", "x", { cause }),
      new UsersError("DROVER_ERR_USERS_CONFLICT", "x", { cause }),
      new AuditError("DROVER_ERR_AUDIT_PAGE_TOKEN", "x", { cause }),
      new SecretsError("DROVER_ERR_SECRETS_VAULT", "x", { cause }),
      new StorageError("DROVER_ERR_STORAGE_TOO_LARGE", "x", { cause }),
      new DatabaseError("DROVER_ERR_DB_MIGRATION", "x", { cause }),
      new SchedulerUnavailableError("x", { cause }),
    ];
    expect(errors.map((e) => [e.name, e.code, e.statusCode, e.fault])).toEqual([
      ["ControlPlaneError", "DROVER_ERR_INVALID_STATE", 409, "user"],
      ["ContextsError", "DROVER_ERR_CONTEXTS_INVALID", 400, "user"],
      ["UsersError", "DROVER_ERR_USERS_CONFLICT", 409, "user"],
      ["AuditError", "DROVER_ERR_AUDIT_PAGE_TOKEN", 400, "user"],
      ["SecretsError", "DROVER_ERR_SECRETS_VAULT", 503, "infrastructure"],
      ["StorageError", "DROVER_ERR_STORAGE_TOO_LARGE", 413, "user"],
      ["DatabaseError", "DROVER_ERR_DB_MIGRATION", 500, "infrastructure"],
      ["SchedulerUnavailableError", "DROVER_ERR_SCHEDULER_UNAVAILABLE", 503, "infrastructure"],
    ]);
    for (const e of errors) {
      expect(e).toBeInstanceOf(DroverError);
      expect(e.cause).toBe(cause);
    }
  });
});
