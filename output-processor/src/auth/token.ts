import { createHmac, timingSafeEqual } from "node:crypto";
import { z } from "zod";

/** What an ingest token grants: output for one task, plus the values to mask in it. */
export interface TaskGrant {
  taskId: string;
  jobId: string;
  projectId: string;
  /** Secret values to mask in this task's output (defence in depth behind the agent). */
  secrets: string[];
}

/**
 * Checks an agent's ingest token. Called once per connection, before any frame is accepted.
 * Returns null for an unknown, expired or forged token (never throws for a bad token; throws only
 * when the verifier itself failed, which closes the connection as a retryable server error).
 * A token also stops working when its task ends: the ingest server refuses any connection for a
 * task whose log holds `task_finished` (`INGEST_CLOSE.taskFinished`), whatever the verifier says.
 */
export interface TaskTokenVerifier {
  verify(token: string): Promise<TaskGrant | null>;
}

export interface OutputTokenClaims {
  taskId: string;
  jobId: string;
  projectId: string;
  /** Expiry, epoch milliseconds. */
  expiresAt: number;
}

const PREFIX = "dov1";
const claimsSchema = z.object({
  t: z.string().min(1),
  j: z.string().min(1),
  p: z.string().min(1),
  e: z.number().int(),
});

/** Constant-time comparison of a presented credential with the expected one (lengths are not secret). */
export function constantTimeEqual(given: Buffer, expected: Buffer): boolean {
  return given.length === expected.length && timingSafeEqual(given, expected);
}

function mac(secret: string, body: string): Buffer {
  return createHmac("sha256", secret).update(`${PREFIX}.${body}`).digest();
}

/** Mints an ingest token for one task: `dov1.<claims>.<HMAC-SHA256>`, verifiable without a lookup. */
export function signOutputToken(secret: string, claims: OutputTokenClaims): string {
  if (secret.length < 16) throw new Error("signOutputToken: secret must be at least 16 characters");
  const body = Buffer.from(
    JSON.stringify({ t: claims.taskId, j: claims.jobId, p: claims.projectId, e: claims.expiresAt }),
  ).toString("base64url");
  return `${PREFIX}.${body}.${mac(secret, body).toString("base64url")}`;
}

/**
 * Returns the claims of a well-signed, unexpired token, else null. The signature is compared as
 * the one canonical text `signOutputToken` writes (unpadded base64url), so no other spelling of
 * the same bytes (padding, other alphabet, non-zero trailing bits) is accepted.
 */
export function verifyOutputToken(
  secret: string,
  token: string,
  now: number = Date.now(),
): OutputTokenClaims | null {
  const parts = token.split(".");
  if (parts.length !== 3 || parts[0] !== PREFIX) return null;
  const [, body, sig] = parts as [string, string, string];
  const expected = Buffer.from(mac(secret, body).toString("base64url"), "utf8");
  if (!constantTimeEqual(Buffer.from(sig, "utf8"), expected)) return null;
  let raw: unknown;
  try {
    raw = JSON.parse(Buffer.from(body, "base64url").toString("utf8"));
  } catch {
    return null;
  }
  const parsed = claimsSchema.safeParse(raw);
  if (!parsed.success || parsed.data.e <= now) return null;
  return {
    taskId: parsed.data.t,
    jobId: parsed.data.j,
    projectId: parsed.data.p,
    expiresAt: parsed.data.e,
  };
}

/** A `TaskTokenVerifier` over HMAC tokens; secrets to mask come from an optional lookup. */
export class HmacTaskTokenVerifier implements TaskTokenVerifier {
  constructor(
    private readonly secret: string,
    private readonly secretsFor: (taskId: string) => Promise<string[]> = async () => [],
  ) {}

  async verify(token: string): Promise<TaskGrant | null> {
    const claims = verifyOutputToken(this.secret, token);
    if (!claims) return null;
    return {
      taskId: claims.taskId,
      jobId: claims.jobId,
      projectId: claims.projectId,
      secrets: await this.secretsFor(claims.taskId),
    };
  }
}
