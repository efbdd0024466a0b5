/** The conformance suite against `nomad`: the Nomad test server runs the fixture agent (raw_exec). */
import { createServer } from "node:net";
import { pino } from "pino";
import { NomadClient, jobSpecConfigSchema } from "@drover/nomad-jobs";
import { NomadTestServer } from "@drover/nomad-jobs/testing";
import { NomadScheduler } from "@drover/control-plane";
import { conformanceAgent, deskAgents, schedulerConformance } from "./conformance.js";

const logger = pino({ level: "silent" });

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

schedulerConformance("nomad", async (desk) => {
  const servers: NomadTestServer[] = [];
  const start = async (port?: number): Promise<NomadTestServer> => {
    const s = await NomadTestServer.start({ port, heartbeatMs: 100, execRawExec: true });
    servers.push(s);
    return s;
  };
  const server = await start();
  const spec = jobSpecConfigSchema.parse({
    driver: "raw_exec",
    rawExec: { command: process.execPath, args: [conformanceAgent] },
  });
  const at = (address: string): NomadScheduler =>
    new NomadScheduler({
      client: new NomadClient({
        address,
        retry: { maxRetries: 1, minDelayMs: 10, maxDelayMs: 20 },
        requestTimeoutMs: 5_000,
      }),
      spec,
      logger,
      ownsClient: true,
      stream: { minDelayMs: 10, maxDelayMs: 50 },
    });
  return {
    ...deskAgents(desk),
    open: async () => at(server.url),
    unavailable: async () => {
      const port = await freePort();
      return {
        backend: at(`http://127.0.0.1:${port}`),
        restore: async () => void (await start(port)),
      };
    },
    close: async () => {
      for (const s of servers) await s.close();
    },
  };
});
