import { expect } from "vitest";
import type { ErrorCode } from "@drover/control-plane";

/** Asserts an API error reply: its status and its stable `code` (not the status alone). */
export function expectError(
  res: { status: number; body: unknown },
  status: number,
  code: ErrorCode,
): void {
  const body = res.body as { code?: unknown } | null | undefined;
  expect({ status: res.status, code: body?.code }).toEqual({ status, code });
}
