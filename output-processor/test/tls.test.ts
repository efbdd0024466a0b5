/**
 * The output-processor over TLS (HTTPS log reads, WSS ingest): the agent's client verifies it
 * against the CA, and an expired, stranger or misnamed certificate fails the client at once with
 * the problem named; plaintext beyond loopback is refused at start; a rediss:// URL is accepted.
 */
import { randomUUID } from "node:crypto";
import { Agent } from "undici";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OutputClient } from "@drover/output-processor/client";
import { createOutputProcessor, outputConfigFromEnv } from "@drover/output-processor";
import { createCa, createCertificate, type KeyPair } from "@drover/tls";
import {
  APP_KEY,
  APP_SECRET,
  READ_TOKEN,
  logger,
  startProcessor,
  tempDir,
  tokenFor,
} from "./helpers/env.js";

let ca: KeyPair;
let dir: { dir: string; cleanup: () => Promise<void> };
beforeAll(async () => {
  ca = await createCa();
  dir = await tempDir();
});
afterAll(() => dir.cleanup());

async function serve(pair: KeyPair, host = "127.0.0.1") {
  const s = await startProcessor({ dataDir: dir.dir, tls: pair, host });
  return { ...s, url: `https://${host}:${s.port}` };
}

describe("output-processor over TLS", () => {
  it("ingests over WSS and serves logs over HTTPS to clients that trust the CA", async () => {
    const s = await serve(await createCertificate(ca, { kind: "server" }));
    const taskId = `t-${randomUUID()}`;
    const client = new OutputClient({
      url: s.url,
      token: tokenFor(taskId, "job-1"),
      taskId,
      tls: { ca: ca.cert },
    });
    try {
      await client.connect();
      client.stepStarted(1, "hello");
      client.write(1, "out", "over wss\n");
      await client.flush();
      const dispatcher = new Agent({ connect: { ca: ca.cert } });
      const res = await fetch(`${s.url}/output/v1/tasks/${taskId}/log`, {
        headers: { authorization: `Bearer ${READ_TOKEN}` },
        dispatcher,
      } as RequestInit);
      expect(await res.text()).toContain("over wss");
      await dispatcher.close();
    } finally {
      await client.close();
      await s.op.close();
    }
  });

  it.each([
    ["expired", "DROVER_ERR_TLS_CERT_EXPIRED", /has expired \(CERT_HAS_EXPIRED\)/],
    ["of another CA", "DROVER_ERR_TLS_UNKNOWN_CA", /not signed by a trusted CA/],
    ["for another name", "DROVER_ERR_TLS_NAME_MISMATCH", /does not name the host/],
    ["for a client", "DROVER_ERR_TLS_CERT_PURPOSE", /is not a server certificate/],
  ] as const)(
    "a certificate %s fails the agent's client at once (%s)",
    async (what, code, text) => {
      const pair =
        what === "expired"
          ? await createCertificate(ca, {
              kind: "server",
              now: new Date(Date.now() - 9 * 86_400_000),
              days: 1,
            })
          : what === "of another CA"
            ? await createCertificate(await createCa(), { kind: "server" })
            : await createCertificate(ca, { kind: what === "for a client" ? "client" : "server" });
      // The server certificate names 127.0.0.1, localhost and ::1; 127.0.0.2 is loopback too.
      const s = await serve(pair, what === "for another name" ? "127.0.0.2" : "127.0.0.1");
      const client = new OutputClient({
        url: s.url,
        token: "t",
        taskId: "t",
        tls: { ca: ca.cert },
      });
      try {
        const err = await client.connect().catch((e: unknown) => e);
        expect(err).toMatchObject({ code });
        expect((err as Error).message).toMatch(text);
      } finally {
        await client.close().catch(() => undefined);
        await s.op.close();
      }
    },
  );

  it("refuses to listen in plaintext beyond loopback unless allowed; reads DROVER_TLS_* and rediss://", () => {
    const base = { port: 0, dataDir: dir.dir, pusher: { appKey: APP_KEY, appSecret: APP_SECRET } };
    const deps = {
      logger,
      verifier: { verify: async () => null },
      authorizeRead: async () => false,
    } as unknown as Parameters<typeof createOutputProcessor>[1];
    expect(() => createOutputProcessor({ ...base, host: "0.0.0.0" }, deps)).toThrow(
      expect.objectContaining({
        code: "DROVER_ERR_PLAINTEXT_REFUSED",
        message: expect.stringMatching(
          /output-processor would listen in plaintext on 0\.0\.0\.0 \(DROVER_OUTPUT_HOST\)/,
        ),
      }),
    );
    expect(() =>
      createOutputProcessor(
        { ...base, host: "127.0.0.1", redisUrl: "redis://cache.example.com:6379" },
        deps,
      ),
    ).toThrow(/Redis at redis:\/\/cache.example.com:6379 \(REDIS_URL\) is plaintext/);
    const env = {
      DROVER_OUTPUT_HOST: "0.0.0.0",
      DROVER_ALLOW_PLAINTEXT: "true",
      REDIS_URL: "rediss://cache.example.com:6380",
      DROVER_PUSHER_APP_KEY: APP_KEY,
      DROVER_PUSHER_APP_SECRET: APP_SECRET,
    };
    expect(outputConfigFromEnv(env)).toMatchObject({ allowPlaintext: true, host: "0.0.0.0" });
    expect(() => outputConfigFromEnv({ ...env, DROVER_TLS_CERT: "/nope.pem" })).toThrow(
      /DROVER_TLS_KEY: DROVER_TLS_CERT and DROVER_TLS_KEY are set together/,
    );
  });
});
