import { createHash } from "node:crypto";
import { invalid } from "../model/errors.js";

const TYPES = new Set([
  "ssh-ed25519",
  "ssh-rsa",
  "ecdsa-sha2-nistp256",
  "ecdsa-sha2-nistp384",
  "ecdsa-sha2-nistp521",
  "sk-ssh-ed25519@openssh.com",
  "sk-ecdsa-sha2-nistp256@openssh.com",
]);

export interface ParsedPublicKey {
  type: string;
  /** `type base64` (the comment dropped). */
  normalized: string;
  comment: string;
  /** OpenSSH's `SHA256:...` fingerprint. */
  fingerprint: string;
}

/**
 * Validates one OpenSSH public key line (`type base64 [comment]`): a known type, a base64 blob
 * whose embedded type matches, and RSA keys of at least 2048 bits. Throws a 400 on `field`.
 */
export function parsePublicKey(text: string, field = "public_key"): ParsedPublicKey {
  const bad = (message: string) =>
    invalid(`invalid SSH public key: ${message}`, [{ field, message }]);
  const parts = text.trim().split(/\s+/);
  if (text.trim().includes("\n")) throw bad("must be a single line");
  const [type, b64, ...rest] = parts;
  if (!type || !b64) throw bad("expected '<type> <base64> [comment]'");
  if (!TYPES.has(type)) throw bad(`unsupported key type '${type}'`);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(b64)) throw bad("key data is not base64");
  const blob = Buffer.from(b64, "base64");
  const fields: Buffer[] = [];
  let off = 0;
  while (off < blob.length) {
    if (off + 4 > blob.length) throw bad("truncated key data");
    const len = blob.readUInt32BE(off);
    if (off + 4 + len > blob.length) throw bad("truncated key data");
    fields.push(blob.subarray(off + 4, off + 4 + len));
    off += 4 + len;
  }
  if (fields[0]?.toString("latin1") !== type) throw bad("key data does not match its type");
  if (type === "ssh-ed25519" && fields[1]?.length !== 32) throw bad("ed25519 key must be 32 bytes");
  if (type === "ssh-rsa") {
    const n = fields[2];
    if (!n) throw bad("truncated RSA key");
    const bits = (n.length - (n[0] === 0 ? 1 : 0)) * 8;
    if (bits < 2048) throw bad(`RSA key of ${bits} bits is too short (minimum 2048)`);
  }
  if (type.startsWith("ecdsa-") && !fields[2]) throw bad("truncated ECDSA key");
  const fingerprint = `SHA256:${createHash("sha256").update(blob).digest("base64").replace(/=+$/, "")}`;
  return { type, normalized: `${type} ${b64}`, comment: rest.join(" "), fingerprint };
}
