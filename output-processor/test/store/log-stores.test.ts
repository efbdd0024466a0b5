import { FsLogStore, ObjectLogStore } from "@drover/output-processor";
import { tempDir } from "../helpers/env.js";
import { describeLogStore, type LogStoreTarget } from "../helpers/log-store-suite.js";
import { s3Target } from "../objstore/target.js";

// One suite of the rules in src/store/types.ts, run against every LogStore.

describeLogStore("FsLogStore", async (): Promise<LogStoreTarget> => {
  const dirs: Array<{ cleanup: () => Promise<void> }> = [];
  return {
    async open(limits = {}) {
      const d = await tempDir();
      dirs.push(d);
      const make = (): FsLogStore => new FsLogStore({ dir: d.dir, ...limits });
      return { store: make(), peer: async () => make() };
    },
    async cleanup() {
      for (const d of dirs.splice(0)) await d.cleanup();
    },
  };
});

// The bucket is the S3 test server, or a real S3/MinIO when DROVER_S3_ENDPOINT is set. Peers
// share the spool (as instances taking over each other's agents do) and the bucket; after a
// writer closes, its task is archived and read from the bucket.
describeLogStore("ObjectLogStore", async (): Promise<LogStoreTarget> => {
  const bucket = await s3Target();
  const dirs: Array<{ cleanup: () => Promise<void> }> = [];
  const stores: ObjectLogStore[] = [];
  return {
    async open(limits = {}) {
      const d = await tempDir();
      dirs.push(d);
      const make = (): ObjectLogStore => {
        const s = new ObjectLogStore({
          dir: d.dir,
          ...limits,
          s3: { ...bucket.config, maxRetries: 1 },
        });
        stores.push(s);
        return s;
      };
      return { store: make(), peer: async () => make() };
    },
    async cleanup() {
      for (const s of stores.splice(0)) s.close();
      for (const d of dirs.splice(0)) await d.cleanup();
      await bucket.close();
    },
  };
});
