/**
 * The rules every `MachineProvider` keeps (see src/provider/types.ts), as one suite each provider's
 * test file runs with its own factory.
 */
import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateSshKeyPair, type MachineProvider, type MachineSpec } from "@drover/vm-service";

export interface ConformanceTarget {
  name: string;
  make(): Promise<MachineProvider>;
}

export function specFor(tags: Record<string, string>): MachineSpec {
  const user = generateSshKeyPair("drover-test");
  const host = generateSshKeyPair("drover-test-host");
  return {
    image: "default",
    resourceClass: "medium",
    tags,
    boot: { sshUser: "circleci", authorizedKey: user.publicKey, hostKey: host.privateKey },
  };
}

export function providerConformance(target: ConformanceTarget): void {
  describe(`machine provider conformance: ${target.name}`, () => {
    let provider: MachineProvider;
    const run = `test-${randomUUID()}`;
    const created: string[] = [];

    beforeAll(async () => {
      provider = await target.make();
    });
    afterAll(async () => {
      await provider?.destroy(created).catch(() => {});
      await provider?.close();
    });

    it("reports itself healthy", async () => {
      const h = await provider.health();
      expect(h, h.detail).toMatchObject({ ok: true });
    });

    it("creates machines and returns one id per spec, in order", async () => {
      const ids = await provider.create([
        specFor({ run, n: "0", task: "a" }),
        specFor({ run, n: "1", task: "b" }),
      ]);
      created.push(...ids);
      expect(ids).toHaveLength(2);
      expect(new Set(ids).size).toBe(2);
      const described = await provider.describe(ids);
      expect(described.map((m) => m.id)).toEqual(ids);
      expect(described.map((m) => m.tags.n)).toEqual(["0", "1"]);
      for (const m of described) {
        expect(["creating", "running"]).toContain(m.state);
        expect(m.createdAt.getTime()).toBeGreaterThan(0);
      }
    });

    it("becomes running with an internal address", async () => {
      await expect
        .poll(async () => (await provider.describe(created)).map((m) => m.state), {
          timeout: 60_000,
        })
        .toEqual(["running", "running"]);
      for (const m of await provider.describe(created)) {
        expect(m.internalAddress).toMatch(/^[0-9a-f.:]+$/);
      }
    });

    it("lists by every given tag, and only its own", async () => {
      const all = await provider.list({ run });
      expect(all.map((m) => m.id).sort()).toEqual([...created].sort());
      const one = await provider.list({ run, task: "b" });
      expect(one.map((m) => m.tags.n)).toEqual(["1"]);
      expect(await provider.list({ run: `${run}-other` })).toEqual([]);
    });

    it("destroys idempotently, also unknown ids", async () => {
      const [first] = created;
      await provider.destroy([first!]);
      await provider.destroy([first!]);
      await provider.destroy([`missing-${randomUUID()}`]);
      await expect
        .poll(async () => (await provider.list({ run })).map((m) => m.tags.n), {
          timeout: 60_000,
        })
        .toEqual(["1"]);
      expect(await provider.describe([first!])).toEqual([]);
    });
  });
}
