export { ContextsError, type ContextsErrorCode } from "./errors.js";
export { ENV_VAR_NAME, checkName, checkValue, valueHint } from "./values.js";
export {
  canSeeOrg,
  isRestricted,
  loadRestrictions,
  restrictionDenial,
  type Actor,
  type CallContext,
  type Restrictions,
  type Subject,
} from "./access.js";
export {
  ContextsService,
  type ContextEnvVarView,
  type ContextView,
  type GroupView,
  type ProjectEnvVarView,
  type RestrictionView,
} from "./service.js";
export {
  ContextSecretsProvider,
  type ContextAccess,
  type TaskSecrets,
  type TaskSecretsInput,
} from "./provider.js";
export { registerSecretsRoutes, callContext, type SecretsRouteDeps } from "./routes.js";
export { rewrapStoredSecrets } from "./rewrap.js";
export { createSecretsModule, type SecretsModule } from "./module.js";
