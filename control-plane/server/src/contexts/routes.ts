import type { FastifyInstance, FastifyRequest } from "fastify";
import { z } from "zod";
import { PAGE_SIZE, decodePageToken, encodePageToken } from "../model/pagination.js";
import type { Database } from "../db/types.js";
import { registerAuditRoutes } from "../audit/routes.js";
import type { SecretStore } from "../secrets/types.js";
import type { Actor, CallContext } from "./access.js";
import { ContextsError } from "./errors.js";
import { ContextsService } from "./service.js";

/** What `registerSecretsRoutes` needs: the database and the secret store. */
export interface SecretsRouteDeps {
  db: Database;
  store: SecretStore;
}

interface Slug {
  vcs: string;
  org: string;
  repo: string;
}

/** The authenticated caller, as the API server's auth hook put it on the request. */
export function callContext(req: FastifyRequest): CallContext {
  const actor = (req as unknown as { principal?: Actor }).principal;
  if (!actor) throw new ContextsError("DROVER_ERR_CONTEXTS_FORBIDDEN", "You must log in first.");
  return { actor, requestId: req.id };
}

const body = (req: FastifyRequest): Record<string, unknown> => {
  const b = req.body;
  if (b === undefined || b === null) return {};
  if (typeof b !== "object" || Array.isArray(b)) {
    throw new ContextsError("DROVER_ERR_CONTEXTS_INVALID", "body: must be a JSON object");
  }
  return b as Record<string, unknown>;
};

const str = (v: unknown): string | undefined => (typeof v === "string" && v !== "" ? v : undefined);

const NAME_CURSOR = z.object({ a: z.string() }).strict();

/** One page of items by name (code-unit order) after the token's name (`next_page_token`). */
function pageByName<T extends { name: string }>(all: T[], pageToken: string | undefined) {
  const after = decodePageToken(pageToken, NAME_CURSOR)?.a;
  const sorted = [...all].sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
  const rest = after === undefined ? sorted : sorted.filter((x) => x.name > after);
  const items = rest.slice(0, PAGE_SIZE);
  const last = items[items.length - 1];
  return {
    items,
    next_page_token: rest.length > PAGE_SIZE && last ? encodePageToken({ a: last.name }) : null,
  };
}

/**
 * Project env vars (`/api/v2/project/{slug}/envvar...`), contexts (`/api/v2/context...`), context
 * restrictions, user groups (`/api/v2/admin/groups...`) and the audit log
 * (`/api/v2/admin/audit-log` and `.csv`), in CircleCI's shapes. Expects the API server's auth hook
 * to have set `request.principal`. No response ever carries a secret value.
 */
export function registerSecretsRoutes(app: FastifyInstance, deps: SecretsRouteDeps): void {
  const svc = new ContextsService(deps);
  const slugOf = (p: Slug): string => `${p.vcs}/${p.org}/${p.repo}`;

  app.get<{ Params: Slug; Querystring: Record<string, string | undefined> }>(
    "/api/v2/project/:vcs/:org/:repo/envvar",
    async (req) => {
      const all = await svc.listProjectEnvVars(callContext(req), slugOf(req.params));
      return pageByName(all, str(req.query["page-token"]));
    },
  );

  app.post<{ Params: Slug }>("/api/v2/project/:vcs/:org/:repo/envvar", async (req, reply) => {
    const b = body(req);
    const view = await svc.setProjectEnvVar(callContext(req), slugOf(req.params), b.name, b.value);
    return reply.code(201).send(view);
  });

  app.get<{ Params: Slug & { name: string } }>(
    "/api/v2/project/:vcs/:org/:repo/envvar/:name",
    async (req) => svc.getProjectEnvVar(callContext(req), slugOf(req.params), req.params.name),
  );

  app.delete<{ Params: Slug & { name: string } }>(
    "/api/v2/project/:vcs/:org/:repo/envvar/:name",
    async (req) => {
      await svc.deleteProjectEnvVar(callContext(req), slugOf(req.params), req.params.name);
      return { message: "Environment variable deleted." };
    },
  );

  app.post("/api/v2/context", async (req) => {
    const b = body(req);
    const owner = (b.owner ?? {}) as Record<string, unknown>;
    return svc.createContext(callContext(req), { name: b.name, owner });
  });

  app.get<{ Querystring: Record<string, string | undefined> }>("/api/v2/context", async (req) =>
    svc.listContexts(callContext(req), {
      ownerId: str(req.query["owner-id"]),
      ownerSlug: str(req.query["owner-slug"]),
      pageToken: str(req.query["page-token"]),
    }),
  );

  app.get<{ Params: { id: string } }>("/api/v2/context/:id", async (req) =>
    svc.getContext(callContext(req), req.params.id),
  );

  app.delete<{ Params: { id: string } }>("/api/v2/context/:id", async (req) => {
    await svc.deleteContext(callContext(req), req.params.id);
    return { message: "Context deleted." };
  });

  app.get<{ Params: { id: string } }>("/api/v2/context/:id/environment-variable", async (req) =>
    svc.listContextEnvVars(callContext(req), req.params.id),
  );

  app.put<{ Params: { id: string; name: string } }>(
    "/api/v2/context/:id/environment-variable/:name",
    async (req) =>
      svc.putContextEnvVar(callContext(req), req.params.id, req.params.name, body(req).value),
  );

  app.delete<{ Params: { id: string; name: string } }>(
    "/api/v2/context/:id/environment-variable/:name",
    async (req) => {
      await svc.deleteContextEnvVar(callContext(req), req.params.id, req.params.name);
      return { message: "Environment variable deleted." };
    },
  );

  app.get<{ Params: { id: string } }>("/api/v2/context/:id/restrictions", async (req) =>
    svc.listRestrictions(callContext(req), req.params.id),
  );

  app.post<{ Params: { id: string } }>("/api/v2/context/:id/restrictions", async (req, reply) => {
    const b = body(req);
    const view = await svc.addRestriction(callContext(req), req.params.id, {
      restriction_type: b.restriction_type,
      restriction_value: b.restriction_value,
    });
    return reply.code(201).send(view);
  });

  app.delete<{ Params: { id: string; rid: string } }>(
    "/api/v2/context/:id/restrictions/:rid",
    async (req) => {
      await svc.deleteRestriction(callContext(req), req.params.id, req.params.rid);
      return { message: "Context restriction deleted." };
    },
  );

  app.get<{ Querystring: Record<string, string | undefined> }>(
    "/api/v2/admin/groups",
    async (req) =>
      svc.listGroups(callContext(req), {
        ownerId: str(req.query["owner-id"]),
        ownerSlug: str(req.query["owner-slug"]),
      }),
  );

  app.post("/api/v2/admin/groups", async (req, reply) => {
    const b = body(req);
    const owner = (b.owner ?? {}) as Record<string, unknown>;
    return reply.code(201).send(await svc.createGroup(callContext(req), { name: b.name, owner }));
  });

  app.put<{ Params: { id: string; userId: string } }>(
    "/api/v2/admin/groups/:id/members/:userId",
    async (req) => {
      await svc.setGroupMember(callContext(req), req.params.id, req.params.userId, true);
      return { message: "Member added." };
    },
  );

  app.delete<{ Params: { id: string; userId: string } }>(
    "/api/v2/admin/groups/:id/members/:userId",
    async (req) => {
      await svc.setGroupMember(callContext(req), req.params.id, req.params.userId, false);
      return { message: "Member removed." };
    },
  );

  registerAuditRoutes(app, { db: deps.db });
}
