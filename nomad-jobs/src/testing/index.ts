export { NomadTestServer, type NomadTestServerOptions } from "./server.js";
export { NomadState, type StoredJob, type Table, type TestNode } from "./state.js";
export { LogStore, LogFile } from "./logs.js";
