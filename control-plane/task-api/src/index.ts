export * from "./contract.js";
export { TaskApiClient, TaskApiError, type TaskApiClientOptions } from "./client.js";
