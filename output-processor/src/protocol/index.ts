export * from "./ingest.js";
