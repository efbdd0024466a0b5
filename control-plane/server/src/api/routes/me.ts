import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit } from "../../audit/log.js";
import { parsePublicKey } from "../../auth/ssh-keys.js";
import { notFound } from "../../model/errors.js";
import type { SshKey } from "../../model/records.js";
import { addSshKey, deleteSshKey, listSshKeys } from "../../model/users.js";
import { parse, principalOf } from "../server.js";
import { auditOf } from "./audit-context.js";
import type { CoreRouteDeps } from "./deps.js";

const keyBody = z
  .object({ public_key: z.string().min(1).max(16_384), title: z.string().max(200).optional() })
  .strict();

const presentKey = (k: SshKey) => ({
  id: k.id,
  title: k.title,
  fingerprint: k.fingerprint,
  public_key: k.publicKey,
  created_at: k.createdAt.toISOString(),
});

/** `GET /me` and the user's SSH public keys (used by reruns with SSH). */
export function registerMeRoutes(app: FastifyInstance, deps: CoreRouteDeps): void {
  const { db } = deps;

  app.get("/api/v2/me", async (req) => {
    const who = principalOf(req);
    return { id: who.userId, login: who.login, name: who.name, role: who.role };
  });

  app.get("/api/v2/me/ssh-keys", async (req) => {
    const keys = await listSshKeys(db, principalOf(req).userId);
    return { items: keys.map(presentKey), next_page_token: null };
  });

  app.post("/api/v2/me/ssh-keys", async (req, reply) => {
    const who = principalOf(req);
    const body = parse(keyBody, req.body);
    const key = parsePublicKey(body.public_key);
    const audit = auditOf(req);
    const saved = await db.transaction(async (tx) => {
      const k = await addSshKey(tx, {
        userId: who.userId,
        title: body.title ?? key.comment,
        publicKey: key.normalized,
        fingerprint: key.fingerprint,
      });
      await recordAudit(tx, {
        ...audit,
        action: "user.ssh_key.create",
        target: { id: k.id, type: "ssh_key", name: k.fingerprint },
        payload: { user_id: who.userId, title: k.title },
      });
      return k;
    });
    return reply.code(201).send(presentKey(saved));
  });

  app.delete<{ Params: { key: string } }>("/api/v2/me/ssh-keys/:key", async (req, reply) => {
    const who = principalOf(req);
    const audit = auditOf(req);
    await db.transaction(async (tx) => {
      const k = await deleteSshKey(tx, who.userId, decodeURIComponent(req.params.key));
      if (!k) throw notFound("SSH key");
      await recordAudit(tx, {
        ...audit,
        action: "user.ssh_key.delete",
        target: { id: k.id, type: "ssh_key", name: k.fingerprint },
        payload: { user_id: who.userId, title: k.title },
      });
    });
    return reply.code(204).send();
  });
}
