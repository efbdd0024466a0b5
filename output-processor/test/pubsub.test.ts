import { afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { MemoryPubSub, RedisPubSub, type PubSub } from "@drover/output-processor";
import { REDIS_URL, assertRedis, uniquePrefix } from "./helpers/env.js";

/** One conformance suite for every PubSub implementation. */
const impls: Array<[string, () => PubSub[]]> = [
  [
    "memory",
    () => {
      const one = new MemoryPubSub();
      return [one, one]; // in-process: publisher and subscriber share the instance
    },
  ],
  ["redis", () => [new RedisPubSub(REDIS_URL), new RedisPubSub(REDIS_URL)]],
];

describe.each(impls)("PubSub conformance: %s", (_name, make) => {
  let open: PubSub[] = [];
  beforeAll(assertRedis);
  afterEach(async () => {
    for (const p of new Set(open)) await p.close();
    open = [];
  });

  function pair(): [PubSub, PubSub] {
    const [a, b] = make() as [PubSub, PubSub];
    open.push(a, b);
    return [a, b];
  }

  it("delivers every message published after subscribe resolves, in order", async () => {
    const [pub, sub] = pair();
    const ch = `${uniquePrefix()}job:1`;
    const got: string[] = [];
    await sub.subscribe(ch, (m) => got.push(m.toString()));
    for (let i = 0; i < 500; i++) await pub.publish(ch, `m${i}`);
    await vi.waitFor(() => expect(got).toHaveLength(500), { timeout: 5_000 });
    expect(got).toEqual([...Array(500).keys()].map((i) => `m${i}`));
  });

  it("hands handlers the UTF-8 bytes of text and of buffers alike", async () => {
    const [pub, sub] = pair();
    const ch = `${uniquePrefix()}job:bytes`;
    const got: Buffer[] = [];
    await sub.subscribe(ch, (m) => got.push(m));
    await pub.publish(ch, "héllo ✓ 日本");
    await pub.publish(ch, Buffer.from([0x7b, 0xe2, 0x9c, 0x93, 0x7d]));
    await vi.waitFor(() => expect(got).toHaveLength(2), { timeout: 5_000 });
    expect(got.every((m) => Buffer.isBuffer(m))).toBe(true);
    expect(got.map((m) => m.toString())).toEqual(["héllo ✓ 日本", "{✓}"]);
  });

  it("isolates channels and fans out to every handler of a channel", async () => {
    const [pub, sub] = pair();
    const p = uniquePrefix();
    const a: string[] = [];
    const a2: string[] = [];
    const b: string[] = [];
    await sub.subscribe(`${p}a`, (m) => a.push(m.toString()));
    await sub.subscribe(`${p}a`, (m) => a2.push(m.toString()));
    await sub.subscribe(`${p}b`, (m) => b.push(m.toString()));
    await pub.publish(`${p}a`, "to-a");
    await pub.publish(`${p}b`, "to-b");
    await vi.waitFor(() => expect([a.length, a2.length, b.length]).toEqual([1, 1, 1]), {
      timeout: 5_000,
    });
    expect([a, a2, b]).toEqual([["to-a"], ["to-a"], ["to-b"]]);
  });

  it("stops delivering to an unsubscribed handler, keeping the others", async () => {
    const [pub, sub] = pair();
    const ch = `${uniquePrefix()}job:2`;
    const kept: string[] = [];
    const dropped: string[] = [];
    await sub.subscribe(ch, (m) => kept.push(m.toString()));
    const off = await sub.subscribe(ch, (m) => dropped.push(m.toString()));
    await pub.publish(ch, "1");
    await vi.waitFor(() => expect([kept.length, dropped.length]).toEqual([1, 1]), {
      timeout: 5_000,
    });
    await off();
    await off(); // idempotent
    await pub.publish(ch, "2");
    await vi.waitFor(() => expect(kept).toHaveLength(2), { timeout: 5_000 });
    expect(dropped).toEqual(["1"]);
  });

  it("carries large and non-ASCII messages intact", async () => {
    const [pub, sub] = pair();
    const ch = `${uniquePrefix()}job:3`;
    const got: string[] = [];
    await sub.subscribe(ch, (m) => got.push(m.toString()));
    const big = `é😀\u001b[31m${"x".repeat(2 * 1024 * 1024)}`;
    await pub.publish(ch, big);
    await vi.waitFor(() => expect(got).toHaveLength(1), { timeout: 5_000 });
    expect(got[0]).toBe(big);
  });
});
