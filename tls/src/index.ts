export { TLS_ERROR_CODES, TlsError, type TlsErrorCode } from "./errors.js";
export {
  createCa,
  createCertificate,
  describeCertificate,
  type CaOptions,
  type CertOptions,
  type KeyPair,
} from "./certs.js";
export { connectOptions, tlsFailure, type ClientTls, type TlsFailureContext } from "./client.js";
export {
  caOf,
  checkConnect,
  checkListen,
  isLoopbackHost,
  readPem,
  serverTlsOf,
  tlsEnvSchema,
  type ServerTls,
  type TlsEnv,
} from "./settings.js";
export { CA_FILES, certFileNames, ensureLocalTls, writeNewFiles, type LocalTls } from "./files.js";
