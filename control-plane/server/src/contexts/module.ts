import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { registerCheckoutKeyRoutes } from "../api/routes/checkout-keys.js";
import type { RequestAuthenticator } from "../api/server.js";
import type { Database } from "../db/types.js";
import { secretStoreConfigFromEnv } from "../config/load.js";
import { createSecretStore, type SecretStoreConfig } from "../secrets/config.js";
import type { SecretStore } from "../secrets/types.js";
import type { LoginLimits } from "../users/config.js";
import { sessionAuthenticator } from "../users/origin.js";
import { SessionService } from "../users/sessions.js";
import { registerSessionRoutes } from "../users/routes.js";
import { ContextSecretsProvider } from "./provider.js";
import { registerSecretsRoutes } from "./routes.js";

export interface SecretsModule {
  store: SecretStore;
  /** Pass as `secrets` to the task service (the engine's `TaskSecretsProvider`). */
  provider: ContextSecretsProvider;
  sessions: SessionService;
  /** Authenticates API requests by the session cookie (pass in `authenticators`). */
  authenticator: RequestAuthenticator;
  /** Route modules: env vars, checkout keys, contexts, groups, audit log; login/logout/session and admin users. */
  routes: ((app: FastifyInstance) => void)[];
  close(): Promise<void>;
}

/**
 * Everything this part of the control plane needs, built from the environment
 * (`secretStoreConfigFromEnv`): the secret store (fails closed on a wrong master key or an
 * unreachable Vault), the claim-time provider, sessions and the route modules.
 */
export async function createSecretsModule(opts: {
  db: Database;
  logger?: Logger;
  env?: Record<string, string | undefined>;
  /** Where the embedded master key file lives by default (`<dataDir>/master.key`). */
  dataDir?: string;
  config?: SecretStoreConfig;
  /** Login rate limits (default `DEFAULT_LOGIN_LIMITS`). */
  loginLimits?: LoginLimits;
  /** Origins trusted for cookie-authenticated writes besides the request's own host. */
  trustedOrigins?: ReadonlySet<string>;
}): Promise<SecretsModule> {
  const config =
    opts.config ??
    secretStoreConfigFromEnv(opts.env ?? {}, opts.dataDir ? { dataDir: opts.dataDir } : {});
  const store = await createSecretStore(config, { db: opts.db });
  opts.logger?.info({ kind: store.kind }, "secret store ready");
  const provider = new ContextSecretsProvider({
    db: opts.db,
    store,
    ...(opts.logger ? { logger: opts.logger } : {}),
  });
  const sessions = new SessionService({
    db: opts.db,
    ...(opts.logger ? { logger: opts.logger } : {}),
    ...(opts.loginLimits ? { loginLimits: opts.loginLimits } : {}),
  });
  const trustedOrigins = opts.trustedOrigins ?? new Set<string>();
  return {
    store,
    provider,
    sessions,
    authenticator: sessionAuthenticator(sessions, trustedOrigins),
    routes: [
      (app) => registerSecretsRoutes(app, { db: opts.db, store }),
      (app) => registerCheckoutKeyRoutes(app, { db: opts.db, store }),
      (app) => registerSessionRoutes(app, { sessions, trustedOrigins }),
    ],
    close: () => store.close(),
  };
}
