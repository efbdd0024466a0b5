/** Per-machine SSH keys: the login key pair and the machine's host key, both fresh per machine. */
import { createHash } from "node:crypto";
import ssh2 from "ssh2";

/** An OpenSSH key pair. */
export interface SshKeyPair {
  /** OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`). */
  privateKey: string;
  /** `ssh-ed25519 AAAA... comment` */
  publicKey: string;
  /** `SHA256:...` as `ssh-keygen -lf` prints it. */
  fingerprint: string;
}

/** The SHA256 fingerprint of an OpenSSH public key line, as OpenSSH prints it. */
export function sshFingerprint(publicKey: string): string {
  const blob = publicKey.trim().split(/\s+/)[1];
  if (!blob) throw new Error("not an OpenSSH public key line");
  const digest = createHash("sha256").update(Buffer.from(blob, "base64")).digest("base64");
  return `SHA256:${digest.replace(/=+$/, "")}`;
}

/** A new ed25519 key pair. */
export function generateSshKeyPair(comment: string): SshKeyPair {
  const pair = ssh2.utils.generateKeyPairSync("ed25519", { comment });
  const publicKey = pair.public.trim();
  return { privateKey: pair.private, publicKey, fingerprint: sshFingerprint(publicKey) };
}
