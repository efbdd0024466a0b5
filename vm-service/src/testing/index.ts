export { startComputeTestServer, type ComputeTestServer } from "./compute-server.js";
