import { describe, expect, it } from "vitest";
import {
  HmacTaskTokenVerifier,
  parseClientMessage,
  signChannelAuth,
  signOutputToken,
  verifyChannelAuth,
  verifyOutputToken,
} from "@drover/output-processor";

describe("channel authorization", () => {
  it("matches Pusher's documented worked example", () => {
    const auth = signChannelAuth(
      "278d425bdf160c739803",
      "7ad3773142a6692b25b8",
      "1234.1234",
      "private-foobar",
    );
    expect(auth).toBe(
      "278d425bdf160c739803:58df8b0c36d6982b82c3ecf6b4662e34fe8c25bba48f5369f135bf843651c3a4",
    );
    expect(
      verifyChannelAuth(
        "278d425bdf160c739803",
        "7ad3773142a6692b25b8",
        "1234.1234",
        "private-foobar",
        auth,
      ),
    ).toBe(true);
    expect(
      verifyChannelAuth(
        "278d425bdf160c739803",
        "7ad3773142a6692b25b8",
        "1234.1235",
        "private-foobar",
        auth,
      ),
    ).toBe(false);
  });
});

describe("output tokens", () => {
  const secret = "0123456789abcdef-secret";
  const claims = { taskId: "t1", jobId: "j1", projectId: "p1", expiresAt: Date.now() + 60_000 };

  it("round-trips and refuses tampering, another secret and expiry", async () => {
    const token = signOutputToken(secret, claims);
    expect(verifyOutputToken(secret, token)).toEqual(claims);
    expect(verifyOutputToken("another-secret-0123456", token)).toBeNull();
    const [p, body, sig] = token.split(".") as [string, string, string];
    const forged = Buffer.from(
      JSON.stringify({ t: "t2", j: "j1", p: "p1", e: claims.expiresAt }),
    ).toString("base64url");
    expect(verifyOutputToken(secret, `${p}.${forged}.${sig}`)).toBeNull();
    expect(verifyOutputToken(secret, `${p}.${body}`)).toBeNull();
    expect(verifyOutputToken(secret, token, claims.expiresAt + 1)).toBeNull();
    const v = new HmacTaskTokenVerifier(secret, async (id) => [`secret-of-${id}`]);
    expect(await v.verify(token)).toEqual({
      taskId: "t1",
      jobId: "j1",
      projectId: "p1",
      secrets: ["secret-of-t1"],
    });
    expect(await v.verify("garbage")).toBeNull();
  });

  it("accepts the signature only in its one canonical spelling", () => {
    const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    // A token whose signature uses the URL-safe characters, so the standard alphabet differs.
    let token = "";
    for (let i = 0; !/[-_]/.test(token.split(".")[2] ?? ""); i++) {
      token = signOutputToken(secret, { ...claims, taskId: `t${i}` });
    }
    const [p, body, sig] = token.split(".") as [string, string, string];
    expect(verifyOutputToken(secret, token)).not.toBeNull();
    // 32 bytes in 43 characters: the last one carries 4 bits and 2 that must be zero.
    const last = alphabet.indexOf(sig.at(-1) as string);
    const spellings = [
      `${sig}=`,
      `${sig}==`,
      `${sig.slice(0, -1)}${alphabet[last ^ 1]}`,
      `${sig.slice(0, -1)}${alphabet[last ^ 2]}`,
      sig.replaceAll("-", "+").replaceAll("_", "/"),
      ` ${sig}`,
      `${sig}\n`,
    ];
    for (const other of spellings) {
      expect(Buffer.from(other.trim(), "base64url")).toEqual(Buffer.from(sig, "base64url"));
      expect(verifyOutputToken(secret, `${p}.${body}.${other}`), JSON.stringify(other)).toBeNull();
    }
  });
});

describe("ingest protocol parsing", () => {
  it("says what was wrong and where", () => {
    expect(parseClientMessage("nope")).toMatchObject({ ok: false });
    const r = parseClientMessage(
      JSON.stringify({
        type: "frames",
        task: "t",
        frames: [{ kind: "output", seq: 0, ts: 1, step: 0, stream: "out", data: "" }],
      }),
    );
    expect(r.ok).toBe(false);
    expect(r.ok ? "" : r.reason).toMatch(/^frames\.0\.seq: /);
  });
});
