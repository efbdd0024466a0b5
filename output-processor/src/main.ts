/**
 * Runs the output-processor alone: `node output-processor/dist/main.js`. Configured by
 * environment (`outputConfigFromEnv`); agents' tokens are HMAC tokens keyed by
 * `DROVER_OUTPUT_TOKEN_SECRET`; log reads need `Authorization: Bearer $DROVER_OUTPUT_READ_TOKEN`.
 */
import process from "node:process";
import { pino } from "pino";
import { constantTimeEqual, HmacTaskTokenVerifier } from "./auth/token.js";
import { outputConfigFromEnv } from "./config.js";
import { createOutputProcessor } from "./server.js";

async function main(): Promise<void> {
  const logger = pino({
    level: process.env.DROVER_LOG_LEVEL ?? "info",
    redact: ["token", "*.token", "secrets", "*.secrets"],
  });
  const tokenSecret = process.env.DROVER_OUTPUT_TOKEN_SECRET;
  const readToken = process.env.DROVER_OUTPUT_READ_TOKEN;
  if (!tokenSecret || !readToken) {
    throw new Error("DROVER_OUTPUT_TOKEN_SECRET and DROVER_OUTPUT_READ_TOKEN must be set");
  }
  const expected = Buffer.from(`Bearer ${readToken}`);
  const op = createOutputProcessor(outputConfigFromEnv(process.env), {
    logger,
    verifier: new HmacTaskTokenVerifier(tokenSecret),
    authorizeRead: async (req) => {
      return constantTimeEqual(Buffer.from(req.headers.authorization ?? ""), expected);
    },
  });
  const port = await op.listen();
  process.stdout.write(`listening ${port}\n`);
  const stop = (): void => {
    void op.close().then(() => process.exit(0));
  };
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
}

main().catch((err: unknown) => {
  process.stderr.write(`output-processor: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
