/**
 * `DATABASE_URL`'s `sslmode` reaches node-postgres: with `verify-full` the client asks the server
 * for TLS (this test PostgreSQL has none, so it says so); with `disable` it connects in plaintext,
 * which the plaintext rule allows on loopback only.
 */
import { expect, it } from "vitest";
import { openDatabase } from "@drover/control-plane/db";
import { checkConnect } from "@drover/tls";

const BASE = process.env.DROVER_TEST_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const withMode = (mode: string) => {
  const u = new URL(BASE);
  u.searchParams.set("sslmode", mode);
  return u.toString();
};

it("sslmode=verify-full asks PostgreSQL for TLS; sslmode=disable does not", async () => {
  await expect(openDatabase({ url: withMode("verify-full") })).rejects.toThrow(
    // No TLS on the test server, or TLS with a certificate no CA here signed: either way, TLS was asked.
    /does not support SSL|certificate/,
  );
  const db = await openDatabase({ url: withMode("disable") });
  await db.close();
  expect(() =>
    checkConnect({
      peer: "PostgreSQL",
      url: withMode("disable").replace("127.0.0.1", "db.example.com"),
      allowPlaintext: false,
      variable: "DATABASE_URL",
    }),
  ).toThrow(/sslmode=verify-full/);
});
