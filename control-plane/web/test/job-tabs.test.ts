import { describe, expect, it } from "vitest";
import { failedFirst } from "../src/browser/job-tabs.js";

describe("failedFirst", () => {
  it("puts failures and errors first, then orders by class and name", () => {
    const tests = [
      { name: "b", classname: "B", result: "success" },
      { name: "z", classname: "A", result: "failure" },
      { name: "a", classname: "A", result: "success" },
      { name: "c", classname: "C", result: "error" },
      { name: "s", classname: "A", result: "skipped" },
    ];
    expect(failedFirst(tests).map((t) => `${t.classname}.${t.name}`)).toEqual([
      "A.z",
      "C.c",
      "A.a",
      "A.s",
      "B.b",
    ]);
    // The input is left as it was.
    expect(tests[0]?.name).toBe("b");
  });
});
