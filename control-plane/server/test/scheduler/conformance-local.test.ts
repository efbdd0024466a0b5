/** The conformance suite against `local`: real agent processes (the suite's fixture agent). */
import { randomUUID } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { LocalScheduler } from "@drover/control-plane";
import { conformanceAgent, deskAgents, schedulerConformance } from "./conformance.js";

const logger = pino({ level: "silent" });

schedulerConformance("local", async (desk) => {
  const root = mkdtempSync(join(tmpdir(), "drover-conformance-local-"));
  const at = (stateDir: string): LocalScheduler =>
    new LocalScheduler({
      logger,
      stateDir,
      agentCommand: [process.execPath, conformanceAgent],
      killGraceMs: 2_000,
      pollMs: 50,
    });
  const stateDir = join(root, "agents");
  return {
    ...deskAgents(desk),
    open: async () => at(stateDir),
    unavailable: async () => {
      const dir = join(root, `gone-${randomUUID()}`);
      const backend = at(dir);
      // The state directory is gone and a file stands where it was (a broken disk, a bad mount).
      rmSync(dir, { recursive: true });
      writeFileSync(dir, "");
      return {
        backend,
        restore: async () => {
          rmSync(dir);
          mkdirSync(dir);
        },
      };
    },
    close: async () => rmSync(root, { recursive: true, force: true }),
  };
});
