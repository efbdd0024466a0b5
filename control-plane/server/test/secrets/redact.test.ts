import pino from "pino";
import { describe, expect, it } from "vitest";
import { SECRET_LOG_REDACT_PATHS, withoutSecretStoreEnv } from "@drover/control-plane";

describe("SECRET_LOG_REDACT_PATHS", () => {
  it("keeps secret values out of log lines however they are nested", () => {
    const lines: string[] = [];
    const log = pino(
      { redact: { paths: [...SECRET_LOG_REDACT_PATHS], censor: "[redacted]" } },
      { write: (s: string) => void lines.push(s) },
    );
    const secret = "s3cr3t-value-for-redaction";
    const task = {
      environment: { project: { KEY: secret }, contexts: { CTX: secret }, job: { A: "b" } },
      secrets: [secret],
    };
    log.info({ task }, "claimed");
    log.info({ response: { task } }, "claim response");
    log.info({ body: { name: "KEY", value: secret } }, "env var");
    log.info({
      req: {
        body: { login: "a", password: secret },
        headers: { cookie: `drover_session=${secret}` },
      },
    });
    log.info({ vault: { secretId: secret, masterKey: secret } });
    expect(lines).toHaveLength(5);
    const text = lines.join("");
    expect(text).not.toContain(secret);
    expect(text).not.toContain(Buffer.from(secret).toString("base64"));
    expect(text).toContain('"job":{"A":"b"}');
    expect(text).toContain("[redacted]");
  });
});

describe("withoutSecretStoreEnv", () => {
  it("drops the secret store's credentials and keeps the rest", () => {
    const env = {
      PATH: "/bin",
      DROVER_MASTER_KEY: "k",
      VAULT_TOKEN: "t",
      DROVER_VAULT_SECRET_ID: "s",
      VAULT_ADDR: "https://v",
    };
    expect(withoutSecretStoreEnv(env)).toEqual({ PATH: "/bin", VAULT_ADDR: "https://v" });
    expect(env.DROVER_MASTER_KEY).toBe("k");
  });
});
