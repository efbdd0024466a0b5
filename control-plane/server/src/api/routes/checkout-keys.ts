import type { FastifyInstance } from "fastify";
import { z } from "zod";
import { recordAudit } from "../../audit/log.js";
import type { Database } from "../../db/types.js";
import {
  deleteCheckoutKey,
  getCheckoutKey,
  insertCheckoutKey,
  listCheckoutKeys,
  newKeyPair,
  type CheckoutKey,
} from "../../model/checkout-keys.js";
import { invalid, notFound } from "../../model/errors.js";
import type { SecretStore } from "../../secrets/types.js";
import { slugOf, visibleProject, type SlugParams } from "../access.js";
import { parse, principalOf } from "../server.js";
import { auditOf } from "./audit-context.js";

/** What the checkout-key routes need: the database and the store that encrypts private keys. */
export interface CheckoutKeyRouteDeps {
  db: Database;
  store: SecretStore;
}

const createBody = z
  .object({
    type: z.enum(["deploy-key", "user-key"]),
  })
  .strict();

const listQuery = z.object({ "page-token": z.string().optional() }).strict();

type KeyParams = SlugParams & { fingerprint: string };

function presentKey(k: CheckoutKey) {
  return {
    "public-key": k.publicKey,
    type: k.type,
    fingerprint: k.fingerprint,
    preferred: k.preferred,
    "created-at": k.createdAt.toISOString(),
  };
}

/** `/api/v2/project/{slug}/checkout-key`: list, create, get and delete deploy keys. */
export function registerCheckoutKeyRoutes(app: FastifyInstance, deps: CheckoutKeyRouteDeps): void {
  const { db } = deps;
  const base = "/api/v2/project/:vcs/:org/:repo/checkout-key";

  app.get<{ Params: SlugParams; Querystring: Record<string, string> }>(base, async (req) => {
    const project = await visibleProject(db, principalOf(req), slugOf(req.params));
    const q = parse(listQuery, req.query, "query");
    const page = await listCheckoutKeys(db, project.id, q["page-token"]);
    return { items: page.items.map(presentKey), next_page_token: page.nextPageToken };
  });

  app.post<{ Params: SlugParams }>(base, async (req, reply) => {
    const project = await visibleProject(db, principalOf(req), slugOf(req.params));
    const body = parse(createBody, req.body);
    if (body.type === "user-key") {
      throw invalid("user-key is not supported: Drover has no GitHub user keys; use deploy-key", [
        { field: "type", message: "only deploy-key is supported" },
      ]);
    }
    const pair = newKeyPair(`drover-${project.slug}`);
    const privateKeyCiphertext = await deps.store.encrypt(pair.privateKey);
    const key = await db.transaction(async (tx) => {
      const k = await insertCheckoutKey(tx, project.id, {
        fingerprint: pair.fingerprint,
        publicKey: pair.publicKey,
        privateKeyCiphertext,
      });
      await recordAudit(tx, {
        ...auditOf(req),
        action: "project.ssh_key.create",
        target: { id: project.id, type: "project", name: project.slug },
        payload: { fingerprint: k.fingerprint, type: k.type },
      });
      return k;
    });
    return reply.code(201).send(presentKey(key));
  });

  app.get<{ Params: KeyParams }>(`${base}/:fingerprint`, async (req) => {
    const project = await visibleProject(db, principalOf(req), slugOf(req.params));
    const key = await getCheckoutKey(db, project.id, req.params.fingerprint);
    if (!key) throw notFound("Checkout key");
    return presentKey(key);
  });

  app.delete<{ Params: KeyParams }>(`${base}/:fingerprint`, async (req) => {
    const project = await visibleProject(db, principalOf(req), slugOf(req.params));
    const fingerprint = req.params.fingerprint;
    await db.transaction(async (tx) => {
      if (!(await deleteCheckoutKey(tx, project.id, fingerprint))) throw notFound("Checkout key");
      await recordAudit(tx, {
        ...auditOf(req),
        action: "project.ssh_key.delete",
        target: { id: project.id, type: "project", name: project.slug },
        payload: { fingerprint },
      });
    });
    return { message: "ok" };
  });
}
