/** Push webhooks from GitHub and GitLab: signature checks and the push they describe. */
import { createHmac } from "node:crypto";
import { safeEqual } from "../auth/tokens.js";

/** What a push asks Drover to build. */
export interface PushEvent {
  /** `owner/repo` or `group/subgroup/repo` */
  fullName: string;
  branch?: string;
  tag?: string;
  revision: string;
  deleted: boolean;
}

/** GitHub's `X-Hub-Signature-256`: `sha256=` + HMAC-SHA256 of the raw body with the secret. */
export function verifyGithubSignature(
  rawBody: Buffer,
  secret: string,
  header: string | undefined,
): boolean {
  if (!header?.startsWith("sha256=")) return false;
  const want = `sha256=${createHmac("sha256", secret).update(rawBody).digest("hex")}`;
  return safeEqual(want, header);
}

/** GitLab's `X-Gitlab-Token`: the secret itself. */
export function verifyGitlabToken(secret: string, header: string | undefined): boolean {
  return header !== undefined && safeEqual(secret, header);
}

const ZERO = /^0+$/;

function splitRef(ref: unknown): { branch?: string; tag?: string } | null {
  if (typeof ref !== "string") return null;
  if (ref.startsWith("refs/heads/")) return { branch: ref.slice("refs/heads/".length) };
  if (ref.startsWith("refs/tags/")) return { tag: ref.slice("refs/tags/".length) };
  return null;
}

/** A GitHub `push` payload; null when it is not a push of a branch or tag. */
export function parseGithubPush(body: unknown): PushEvent | null {
  const b = body as {
    ref?: unknown;
    after?: unknown;
    deleted?: unknown;
    repository?: { full_name?: unknown };
  };
  const ref = splitRef(b?.ref);
  const fullName = b?.repository?.full_name;
  if (!ref || typeof fullName !== "string" || typeof b.after !== "string") return null;
  return { fullName, ...ref, revision: b.after, deleted: b.deleted === true || ZERO.test(b.after) };
}

/** A GitLab `Push Hook` / `Tag Push Hook` payload; null otherwise. */
export function parseGitlabPush(body: unknown): PushEvent | null {
  const b = body as {
    ref?: unknown;
    after?: unknown;
    checkout_sha?: unknown;
    project?: { path_with_namespace?: unknown };
  };
  const ref = splitRef(b?.ref);
  const fullName = b?.project?.path_with_namespace;
  const revision = typeof b?.checkout_sha === "string" ? b.checkout_sha : b?.after;
  if (!ref || typeof fullName !== "string" || typeof revision !== "string") return null;
  return { fullName, ...ref, revision, deleted: ZERO.test(revision) };
}
