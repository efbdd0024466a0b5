/**
 * The conformance suite against `queue`: control-plane backends on one database, a runner
 * claiming from it and running real agent processes (the suite's fixture agent) with the local
 * scheduler. A restart is a new backend on the same queue; the runner is the infrastructure.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pino } from "pino";
import { LocalScheduler, QueueRunner, QueueScheduler } from "@drover/control-plane";
import type { Database } from "@drover/control-plane/db";
import { testDatabases } from "../helpers/databases.js";
import { conformanceAgent, deskAgents, schedulerConformance } from "./conformance.js";

const logger = pino({ level: "silent" });
const postgres = (await testDatabases()).find((d) => d.name === "postgres");

/** A database whose queries fail while `down` holds (the queue's infrastructure unreachable). */
function switchable(db: Database): { db: Database; setDown(down: boolean): void } {
  let down = false;
  const check = (): void => {
    if (down) throw new Error("connect ECONNREFUSED 127.0.0.1:5432");
  };
  return {
    setDown: (d) => (down = d),
    db: {
      kind: db.kind,
      query: async (sql, params) => (check(), db.query(sql, params)),
      transaction: async (fn) => (check(), db.transaction(fn)),
      close: async () => undefined,
    },
  };
}

if (postgres) {
  schedulerConformance("queue", async (desk) => {
    const db = await postgres.open();
    const root = mkdtempSync(join(tmpdir(), "drover-conformance-queue-"));
    const runner = new QueueRunner({
      db,
      logger,
      runnerId: "conformance-runner",
      capacity: 8,
      pollMs: 50,
      local: new LocalScheduler({
        logger,
        stateDir: join(root, "agents"),
        agentCommand: [process.execPath, conformanceAgent],
        killGraceMs: 2_000,
        pollMs: 50,
      }),
    });
    await runner.start();
    const open = (on: Database = db): QueueScheduler =>
      new QueueScheduler({ db: on, logger, pollMs: 50, orphanGraceMs: 0 });
    return {
      ...deskAgents(desk),
      open: async () => open(),
      unavailable: async () => {
        const s = switchable(db);
        s.setDown(true);
        return { backend: open(s.db), restore: async () => s.setDown(false) };
      },
      close: async () => {
        await runner.stop();
        await db.close();
        rmSync(root, { recursive: true, force: true });
      },
    };
  });
}
