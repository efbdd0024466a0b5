import { randomUUID } from "node:crypto";
import { NomadClient, type NomadConfigInput, type NomadJob } from "@drover/nomad-jobs";
import { NomadTestServer, type NomadTestServerOptions } from "@drover/nomad-jobs/testing";

/** Where the contract suite runs: the test server, or a real Nomad when NOMAD_ADDR is set. */
export interface Target {
  name: string;
  client: NomadClient;
  /** Present only for the test server: lets a test drive allocations. */
  server?: NomadTestServer;
  close(): Promise<void>;
}

export async function testServerTarget(
  opts: NomadTestServerOptions = {},
  config: NomadConfigInput = {},
): Promise<Target & { server: NomadTestServer }> {
  const server = await NomadTestServer.start({ heartbeatMs: 100, ...opts });
  const client = new NomadClient({
    address: server.url,
    retry: { minDelayMs: 10, maxDelayMs: 50 },
    ...config,
  });
  return {
    name: "test server",
    client,
    server,
    close: async () => {
      await client.close();
      await server.close();
    },
  };
}

export function realNomadTarget(): Target | undefined {
  const addr = process.env.NOMAD_ADDR;
  if (!addr) return undefined;
  const client = new NomadClient({
    address: addr,
    token: process.env.NOMAD_TOKEN,
    caCert: process.env.NOMAD_CACERT,
    clientCert: process.env.NOMAD_CLIENT_CERT,
    clientKey: process.env.NOMAD_CLIENT_KEY,
  });
  return { name: `nomad at ${addr}`, client, close: () => client.close() };
}

/** A small batch job with a unique ID (raw_exec `true` unless told otherwise). */
export function batchJob(overrides: Partial<NomadJob> = {}): NomadJob & { ID: string } {
  const id = `test-${randomUUID()}`;
  return {
    ID: id,
    Name: id,
    Type: "batch",
    Datacenters: ["*"],
    TaskGroups: [
      {
        Name: "g",
        Count: 1,
        RestartPolicy: { Attempts: 0, Mode: "fail" },
        Tasks: [
          {
            Name: "t",
            Driver: "raw_exec",
            Config: { command: "/bin/true" },
            Resources: { CPU: 100, MemoryMB: 64 },
          },
        ],
      },
    ],
    ...overrides,
  } as NomadJob & { ID: string };
}

/** Wakes waiters when a reader takes something in (an awaited event, not a poll). */
export class Signal {
  #waiters: Array<() => void> = [];

  notify(): void {
    for (const w of this.#waiters.splice(0)) w();
  }

  /** Resolves once `check` holds, re-checking on each `notify`. */
  until(check: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const test = (): void => {
        if (check()) resolve();
        else this.#waiters.push(test);
      };
      test();
    });
  }
}
