export {
  startVaultTransitServer,
  type VaultTransitServer,
  type VaultTransitServerOptions,
  type AppRole,
} from "./vault-transit-server.js";
