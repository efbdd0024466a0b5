/**
 * Signed artifact URLs: the API answers an artifact with a redirect to a short-lived URL on the
 * project's own origin (`DROVER_ARTIFACTS_ORIGIN`, `{project}` a DNS label per project), where
 * the artifact server checks the signature, the expiry and that the host is that project's.
 */
import { createHash, createHmac, timingSafeEqual } from "node:crypto";

/** One DNS label per project slug: readable, lower case, unique by a hash of the slug. */
export function projectLabel(slug: string): string {
  const readable = slug
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "-")
    .replace(/^-+|-+$/g, "")
    .slice(0, 48)
    .replace(/-+$/, "");
  const hash = createHash("sha256").update(slug).digest("hex").slice(0, 8);
  return `${readable || "p"}-${hash}`;
}

/** The origin of a project's artifacts (`pattern` with `{project}` replaced). */
export function artifactOrigin(pattern: string, slug: string): string {
  return pattern.replace("{project}", projectLabel(slug)).replace(/\/+$/, "");
}

export interface ArtifactRef {
  /** The project's label (`projectLabel`), which the serving host must carry. */
  label: string;
  jobId: string;
  node: number;
  path: string;
  /** Unix seconds. */
  expires: number;
}

function mac(key: Buffer, ref: ArtifactRef): Buffer {
  return createHmac("sha256", key)
    .update([ref.label, ref.jobId, String(ref.node), ref.path, String(ref.expires)].join("\n"))
    .digest();
}

/** The path and query of a signed artifact URL (append to the project's origin). */
export function signedArtifactPath(key: Buffer, ref: ArtifactRef): string {
  const path = ref.path.split("/").map(encodeURIComponent).join("/");
  const sig = mac(key, ref).toString("base64url");
  return `/artifacts/${ref.jobId}/${ref.node}/${path}?expires=${ref.expires}&sig=${sig}`;
}

/** Why a signed artifact request is refused, or null when it is good. */
export function checkArtifactSignature(
  key: Buffer,
  ref: ArtifactRef,
  sig: string,
  nowSeconds: number,
): string | null {
  const want = mac(key, ref);
  const got = Buffer.from(sig, "base64url");
  if (got.length !== want.length || !timingSafeEqual(got, want)) {
    return "the signature does not match this URL";
  }
  if (ref.expires < nowSeconds) return "the URL has expired";
  return null;
}
