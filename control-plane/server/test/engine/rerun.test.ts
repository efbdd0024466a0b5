/** Which jobs a rerun copies and what it carries (`planRerun`), and the option rules. */
import { describe, expect, it } from "vitest";
import { checkRerunOptions, planRerun, type JobState, type JobStatus } from "@drover/control-plane";

const j = (name: string, status: JobStatus, requires: string[] = []) => ({
  id: `id-${name}`,
  name,
  type: "build" as const,
  status,
  requires: requires.map((r) => ({ job: r, statuses: ["success" as const] })),
});

// a -> b -> d, c alone; b failed so d did not run.
const finished: Array<JobState & { id: string }> = [
  j("a", "success"),
  j("b", "failed", ["a"]),
  j("c", "success"),
  j("d", "not_run", ["b"]),
];

describe("planRerun", () => {
  it("copies every job for a whole rerun and carries nothing new", () => {
    const p = planRerun(finished, {}, {});
    expect([...p.copy]).toEqual(["a", "b", "c", "d"]);
    expect(p.chosen.size).toBe(0);
    expect(p.carried).toEqual({});
  });

  it("copies the failed jobs and their dependants from failed; the rest is carried", () => {
    const p = planRerun(finished, {}, { fromFailed: true });
    expect([...p.copy].sort()).toEqual(["b", "d"]);
    expect(p.carried).toEqual({ a: "success", c: "success" });
  });

  it("refuses a rerun from failed when nothing failed", () => {
    const green = finished.map((x) => ({ ...x, status: "success" as const }));
    expect(() => planRerun(green, {}, { fromFailed: true })).toThrow(
      expect.objectContaining({ code: "DROVER_ERR_INVALID_STATE" }),
    );
  });

  it("copies chosen jobs with their dependants, or only them with sparse_tree", () => {
    const tree = planRerun(finished, {}, { jobs: ["id-a"] });
    expect([...tree.copy].sort()).toEqual(["a", "b", "d"]);
    expect([...tree.chosen]).toEqual(["a"]);
    expect(tree.carried).toEqual({ c: "success" });
    const sparse = planRerun(finished, {}, { jobs: ["id-b"], sparseTree: true });
    expect([...sparse.copy]).toEqual(["b"]);
    expect(sparse.carried).toEqual({ a: "success", c: "success", d: "not_run" });
  });

  it("keeps what the original workflow carried, under what it adds", () => {
    const p = planRerun(finished.slice(1), { a: "success", z: "failed" }, { jobs: ["id-d"] });
    expect(p.carried).toEqual({ a: "success", z: "failed", b: "failed", c: "success" });
  });

  it("names the field of a job id that is not in the workflow", () => {
    expect(() => planRerun(finished, {}, { jobs: ["id-a", "nope"] })).toThrow(
      expect.objectContaining({
        code: "DROVER_ERR_VALIDATION",
        fields: [{ field: "jobs.1", message: "unknown job id" }],
      }),
    );
  });
});

describe("checkRerunOptions", () => {
  it("refuses combinations that mean nothing, naming the field", () => {
    const field = (opts: Parameters<typeof checkRerunOptions>[0]) => {
      try {
        checkRerunOptions(opts);
        return null;
      } catch (err) {
        return (err as { fields?: Array<{ field: string }> }).fields?.[0]?.field;
      }
    };
    expect(field({ enableSsh: true })).toBe("jobs");
    expect(field({ sparseTree: true })).toBe("jobs");
    expect(field({ fromFailed: true, jobs: ["x"] })).toBe("from_failed");
    // enable_ssh without jobs is refused for the missing jobs first.
    expect(field({ fromFailed: true, enableSsh: true })).toBe("jobs");
    expect(field({ enableSsh: true, jobs: ["x"], sparseTree: true })).toBeNull();
    expect(field({ fromFailed: true })).toBeNull();
  });
});
