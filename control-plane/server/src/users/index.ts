export {
  DEFAULT_SCRYPT,
  hashPassword,
  verifyPassword,
  needsRehash,
  passwordProblem,
  type ScryptParams,
} from "./passwords.js";
export {
  SESSION_COOKIE,
  SessionService,
  clearSessionCookie,
  readSessionCookie,
  sessionCookie,
  type RequestMeta,
  type SessionUser,
} from "./sessions.js";
export { registerSessionRoutes } from "./routes.js";
export { UsersError, type UsersErrorCode } from "./errors.js";
export {
  DEFAULT_LOGIN_LIMITS,
  loginLimitsOf,
  usersConfigSchema,
  type LoginLimits,
  type UsersConfig,
} from "./config.js";
export { LoginRateLimiter, addressKey, systemClock, type Clock } from "./login-limit.js";
export {
  originProblem,
  requireTrustedOrigin,
  sessionAuthenticator,
  trustedOriginSet,
} from "./origin.js";
export { listUsers, removeMembership, removeUser, type UserSummary } from "./admin.js";
export { registerUserAdminRoutes } from "./admin-routes.js";
