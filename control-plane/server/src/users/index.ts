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
  UsersError,
  clearSessionCookie,
  readSessionCookie,
  sessionCookie,
  type RequestMeta,
  type SessionUser,
} from "./sessions.js";
export { registerSessionRoutes } from "./routes.js";
