import { sendJson, type Route } from "./http.js";

/** `/v1/agent/health` (served without a token); `healthy()` says what it answers. */
export function agentRoutes(healthy: () => boolean): Route[] {
  return [
    {
      methods: ["GET"],
      path: /^\/v1\/agent\/health$/,
      name: "/v1/agent/health",
      public: true,
      handle: (_req, res) => {
        const ok = healthy();
        const body = {
          client: { ok, message: ok ? "ok" : "not ready" },
          server: { ok, message: ok ? "ok" : "no leader" },
        };
        sendJson(res, ok ? 200 : 500, body);
      },
    },
  ];
}
