/** Project checkout keys: SSH key pairs whose private half is stored encrypted. */
import { createHash, generateKeyPairSync } from "node:crypto";
import { z } from "zod";
import type { Queryable } from "../db/types.js";
import { PAGE_SIZE, decodePageToken, encodePageToken, type Page } from "./pagination.js";

export interface CheckoutKey {
  fingerprint: string;
  type: "deploy-key";
  publicKey: string;
  createdAt: Date;
  /** The newest key of the project: the one checkout uses. */
  preferred: boolean;
}

export interface NewKeyPair {
  publicKey: string;
  /** PKCS#8 PEM; encrypt before storing. */
  privateKey: string;
  fingerprint: string;
}

const sshString = (b: Buffer): Buffer => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
};

/** A fresh ed25519 key pair, its public key in OpenSSH format and its MD5 fingerprint. */
export function newKeyPair(comment: string): NewKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync("ed25519");
  const raw = publicKey.export({ format: "der", type: "spki" }).subarray(-32);
  const blob = Buffer.concat([sshString(Buffer.from("ssh-ed25519")), sshString(raw)]);
  const md5 = createHash("md5").update(blob).digest("hex");
  return {
    publicKey: `ssh-ed25519 ${blob.toString("base64")} ${comment}`,
    privateKey: privateKey.export({ format: "pem", type: "pkcs8" }).toString(),
    fingerprint: md5.match(/../g)!.join(":"),
  };
}

interface Row {
  fingerprint: string;
  type: "deploy-key";
  public_key: string;
  created_at: Date | string;
  newest: string;
}

const toKey = (r: Row): CheckoutKey => ({
  fingerprint: r.fingerprint,
  type: r.type,
  publicKey: r.public_key,
  createdAt: new Date(r.created_at),
  preferred: r.fingerprint === r.newest,
});

const NEWEST = `(SELECT fingerprint FROM project_checkout_keys n WHERE n.project_id = k.project_id
    ORDER BY created_at DESC, fingerprint DESC LIMIT 1) AS newest`;

export async function insertCheckoutKey(
  q: Queryable,
  projectId: string,
  key: { fingerprint: string; publicKey: string; privateKeyCiphertext: string },
): Promise<CheckoutKey> {
  await q.query(
    `INSERT INTO project_checkout_keys (project_id, fingerprint, type, public_key,
       private_key_ciphertext) VALUES ($1, $2, 'deploy-key', $3, $4)`,
    [projectId, key.fingerprint, key.publicKey, key.privateKeyCiphertext],
  );
  return (await getCheckoutKey(q, projectId, key.fingerprint))!;
}

export async function getCheckoutKey(
  q: Queryable,
  projectId: string,
  fingerprint: string,
): Promise<CheckoutKey | null> {
  const { rows } = await q.query<Row>(
    `SELECT k.fingerprint, k.type, k.public_key, k.created_at, ${NEWEST}
       FROM project_checkout_keys k WHERE k.project_id = $1 AND k.fingerprint = $2`,
    [projectId, fingerprint],
  );
  return rows[0] ? toKey(rows[0]) : null;
}

const CURSOR = z.object({ t: z.iso.datetime(), f: z.string() }).strict();

/** Newest first, keyset-paged. */
export async function listCheckoutKeys(
  q: Queryable,
  projectId: string,
  pageToken?: string,
): Promise<Page<CheckoutKey>> {
  const c = decodePageToken(pageToken, CURSOR);
  const { rows } = await q.query<Row>(
    `SELECT k.fingerprint, k.type, k.public_key, k.created_at, ${NEWEST}
       FROM project_checkout_keys k WHERE k.project_id = $1
        AND ($2::timestamptz IS NULL OR (k.created_at, k.fingerprint) < ($2::timestamptz, $3::text))
      ORDER BY k.created_at DESC, k.fingerprint DESC LIMIT $4`,
    [projectId, c?.t ?? null, c?.f ?? null, PAGE_SIZE + 1],
  );
  const items = rows.slice(0, PAGE_SIZE).map(toKey);
  const last = items[items.length - 1];
  return {
    items,
    nextPageToken:
      rows.length > PAGE_SIZE && last
        ? encodePageToken({ t: last.createdAt.toISOString(), f: last.fingerprint })
        : null,
  };
}

/** True when a key was deleted. */
export async function deleteCheckoutKey(
  q: Queryable,
  projectId: string,
  fingerprint: string,
): Promise<boolean> {
  const { rows } = await q.query(
    "DELETE FROM project_checkout_keys WHERE project_id = $1 AND fingerprint = $2 RETURNING 1",
    [projectId, fingerprint],
  );
  return rows.length > 0;
}
