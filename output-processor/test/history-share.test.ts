/** History pages read once for every subscriber that asks for the same page at the same time. */
import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import {
  FsLogStore,
  MemoryLiveWindow,
  PusherServer,
  type LogStore,
  type StoredFrame,
} from "@drover/output-processor";
import { MemoryPubSub } from "../src/pubsub/memory.js";
import { tempDir } from "./helpers/env.js";

const meta = { taskId: "task-1", jobId: "job-1", projectId: "p" };
const frames = (from: number, n: number): StoredFrame[] =>
  [...Array(n).keys()].map((i) => ({
    kind: "output",
    seq: from + i,
    ts: 1,
    step: 0,
    stream: "out",
    data: `line ${from + i}\n`,
  }));

const cleanup: Array<() => Promise<void>> = [];
afterEach(async () => {
  for (const c of cleanup.splice(0)) await c();
});

async function setup(): Promise<{ server: PusherServer; store: LogStore; reads: () => number }> {
  const dir = await tempDir();
  const fs = new FsLogStore({ dir: dir.dir });
  const w = await fs.openWriter(meta);
  await w.append(frames(1, 50));
  await w.close();
  let reads = 0;
  // Every method of the store, with reads of entries counted.
  const store = new Proxy(fs, {
    get(target, prop, receiver) {
      if (prop === "readEntries") reads++;
      const v = Reflect.get(target, prop, receiver) as unknown;
      return typeof v === "function" ? (v as (...a: unknown[]) => unknown).bind(target) : v;
    },
  }) as LogStore;
  const server = new PusherServer(
    { appKey: "k", appSecret: "s".repeat(20) },
    {
      pubsub: new MemoryPubSub(),
      store,
      window: new MemoryLiveWindow(), // empty: history comes from the store
      channelPrefix: "",
      logger: pino({ level: "silent" }),
    },
  );
  cleanup.push(() => server.close(), dir.cleanup);
  return { server, store, reads: () => reads };
}

describe("PusherServer.historyPage", () => {
  it("reads a page once for concurrent askers and encodes it once", async () => {
    const { server, reads } = await setup();
    const t0 = performance.now();
    const pages = await Promise.all(
      [...Array(10).keys()].map(() => server.historyPage("private-job-job-1", "task-1", 1, t0)),
    );
    expect(reads()).toBe(1);
    expect(new Set(pages.map((p) => p.frame)).size).toBe(1);
    const body = JSON.parse(pages[0]!.frame!.toString()) as {
      event: string;
      channel: string;
      data: { task: string; entries: StoredFrame[] };
    };
    expect(body.event).toBe("log");
    expect(body.channel).toBe("private-job-job-1");
    expect(body.data.entries.map((e) => e.seq)).toEqual([...Array(50).keys()].map((i) => i + 1));
    expect(pages[0]!.next).toBe(51);
  });

  it("does not share a read that began before the asker's live subscription", async () => {
    const { server, reads } = await setup();
    const first = server.historyPage("private-job-job-1", "task-1", 1, 0);
    // This asker went live after `first` started: it must not miss what was published between.
    const later = server.historyPage("private-job-job-1", "task-1", 1, performance.now() + 1);
    await Promise.all([first, later]);
    expect(reads()).toBe(2);
  });

  it("reads again once a read has finished, and says when nothing is stored", async () => {
    const { server, reads } = await setup();
    await server.historyPage("private-job-job-1", "task-1", 1, 0);
    await server.historyPage("private-job-job-1", "task-1", 1, 0);
    expect(reads()).toBe(2);
    const end = await server.historyPage("private-job-job-1", "task-1", 51, 0);
    expect(end).toEqual({ frame: null, next: 51 });
  });
});
