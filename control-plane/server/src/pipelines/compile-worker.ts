/** The worker side of `CompilePool`: says it is ready, then compiles each config it is sent. */
import { parentPort } from "node:worker_threads";
import { compile } from "@drover/config-compiler";
import type { CompileOptions, CompileResult } from "@drover/config-compiler";

/** Main thread -> worker. */
export interface CompileRequest {
  id: number;
  source: string;
  options: CompileOptions;
}

/** Worker -> main thread: `ready` once, then one answer per request. */
export type CompileReply =
  | { type: "ready" }
  | { type: "result"; id: number; result: CompileResult }
  | { type: "crash"; id: number; message: string };

const port = parentPort;
if (port) {
  port.on("message", (req: CompileRequest) => {
    let reply: CompileReply;
    try {
      reply = { type: "result", id: req.id, result: compile(req.source, req.options) };
    } catch (err) {
      reply = {
        type: "crash",
        id: req.id,
        message: err instanceof Error ? err.message : String(err),
      };
    }
    port.postMessage(reply);
  });
  port.postMessage({ type: "ready" } satisfies CompileReply);
}
