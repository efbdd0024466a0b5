export { IngestServer, type IngestDeps } from "./server.js";
